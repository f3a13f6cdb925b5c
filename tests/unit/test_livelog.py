"""runner.execute.livelog: masked whole lines, colours kept only where they cannot hide a secret."""

from __future__ import annotations

import io

from nbformat.v4 import new_code_cell, new_notebook

from runner.execute.livelog import LiveLog, failing_line
from runner.masking import Masker

SECRET = "s3cret-value-42"


def live(colour: bool) -> tuple[LiveLog, io.StringIO]:
    stream = io.StringIO()
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    return LiveLog("nb.ipynb", nb, stream, Masker([SECRET]), show_output=True,
                   colour=colour), stream


def test_a_secret_split_across_messages_is_masked() -> None:
    log, stream = live(colour=False)
    log.stdout.write("token s3cret-")
    log.stdout.write("value-42 done\nrest")
    assert stream.getvalue() == "token [MASKED] done\n"
    log.close_output()
    assert stream.getvalue() == "token [MASKED] done\nrest\n"


def test_colour_codes_inside_a_secret_cost_the_colours_not_the_mask() -> None:
    log, stream = live(colour=True)
    log.emit("\x1b[32mok\x1b[0m\n")
    log.emit("s3cret-\x1b[31mvalue-42\x1b[0m\n")
    assert stream.getvalue() == "\x1b[32mok\x1b[0m\n[MASKED]\n"


def test_labelled_output_names_the_notebook_on_every_line() -> None:
    stream = io.StringIO()
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    log = LiveLog("a/nb.ipynb", nb, stream, Masker([SECRET]), show_output=True, colour=False,
                  label=True)
    log.cell_start(nb.cells[0])
    log.stdout.write("one\ntwo s3cret-value-42\npart")
    log.close_output()
    assert stream.getvalue().splitlines() == [
        "ds-runner: a/nb.ipynb: In [1/1] at 0:00: x = 1",
        "a/nb.ipynb | one", "a/nb.ipynb | two [MASKED]", "a/nb.ipynb | part"]


def test_failing_line_comes_from_the_cells_own_frame() -> None:
    cell = new_code_cell("a = 1\nf(a)")
    tb = ["Cell In[2], line 2\n----> 2 f(a)", "File lib.py:9, in f\nCell In[1], line 1"]
    assert failing_line(cell, 2, tb) == (2, "f(a)")
    assert failing_line(cell, 7, tb) is None
