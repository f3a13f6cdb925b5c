"""The job log while a notebook runs, so that a long CI job never looks hung.

Each code cell is announced as it starts (``In [n/total]``, the elapsed time, its first line),
and with ``show_output`` its stdout and stderr follow as they arrive, like ``papermill
--log-output``: the two writers are papermill's ``stdout_file``/``stderr_file``. A failing
cell's traceback is always shown. Everything is masked; text is held back until a line ends, so
that a secret split across two messages is still masked whole.

With several notebooks at once (``--jobs N``) every line of output and traceback starts with
``<notebook> | ``, and lines are written whole, so that each stays attributable.

ANSI colours (IPython colours its tracebacks) are kept where they render, in GitLab's job log
(``GITLAB_CI``) and on a terminal, unless ``NO_COLOR`` is set; elsewhere they are stripped.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from runner.masking import Masker

_LINE_END = re.compile(r"[\r\n]")
_CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")
_SHOWN_SOURCE = 100
_WRITE = threading.Lock()  # one line at a time from notebooks running side by side


def _strip_color(text: str) -> str:
    from papermill.exceptions import strip_color

    return str(strip_color(text))


def wants_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    return bool(env.get("GITLAB_CI")) or stream.isatty()


def _runs(cell: Any) -> bool:
    """nbclient skips markdown and raw cells, and code cells with no source."""
    return bool(cell.get("cell_type") == "code" and str(cell.get("source", "")).strip())


class _Echo:
    """A file-like writer for papermill's ``stdout_file``/``stderr_file``: masked, whole lines."""

    def __init__(self, log: LiveLog) -> None:
        self.log, self.pending = log, ""

    def write(self, text: str) -> None:
        self.pending += text
        ends = [m.end() for m in _LINE_END.finditer(self.pending)]
        if ends:
            self.log.emit(self.pending[:ends[-1]])
            self.pending = self.pending[ends[-1]:]

    def flush(self) -> None:
        """papermill flushes after every message; a partial line waits for its end."""

    def close(self) -> None:
        if self.pending:
            self.log.emit(self.pending + "\n")
            self.pending = ""


class LiveLog:
    def __init__(self, notebook: str, nb: Any, stream: TextIO, masker: Masker, *,
                 show_output: bool, colour: bool | None = None, label: bool = False) -> None:
        self.notebook, self.stream, self.masker = notebook, stream, masker
        self.label = label
        self.show_output = show_output
        self.colour = wants_colour(stream) if colour is None else colour
        self.total = sum(1 for cell in nb.cells if _runs(cell))
        self.count = 0
        self.start = time.monotonic()
        self.stdout, self.stderr = _Echo(self), _Echo(self)

    def emit(self, text: str, header: bool = False) -> None:
        masked = self.masker.mask(text)
        plain = _strip_color(text)
        if not self.colour or self.masker.mask(plain) != _strip_color(masked):
            masked = self.masker.mask(plain)  # colour codes split a secret: lose the colours
        if self.label and not header:
            masked = "".join(f"{self.notebook} | {line}"
                             for line in masked.splitlines(keepends=True))
        with _WRITE:
            self.stream.write(masked)
            self.stream.flush()

    def cell_start(self, cell: Any) -> None:
        self.close_output()
        if not _runs(cell):
            return
        self.count += 1
        if not self.show_output:
            return
        elapsed = int(time.monotonic() - self.start)
        first = str(cell.source).strip().splitlines()[0]
        if len(first) > _SHOWN_SOURCE:
            first = first[:_SHOWN_SOURCE] + "…"
        self.emit(f"ds-runner: {self.notebook}: In [{self.count}/{self.total}] "
                  f"at {elapsed // 60}:{elapsed % 60:02d}: {first}\n", header=True)

    def close_output(self) -> None:
        self.stdout.close()
        self.stderr.close()

    def cell_failed(self, cell: Any, execution_count: int | None, ename: str, evalue: str,
                    traceback: list[str]) -> None:
        """The failing cell: ``In [n]``, the exception, the failing source line, the traceback."""
        self.close_output()
        where = f"In [{execution_count}]" if execution_count is not None else "a cell"
        lines = [f"ds-runner: {self.notebook}: {where} raised {ename}: {evalue}".rstrip()]
        line = failing_line(cell, execution_count, traceback)
        if line is not None:
            lines.append(f"ds-runner: {self.notebook}: {where}, line {line[0]}: {line[1]}")
        text = "\n".join(traceback).strip("\n")  # none for IPython's UsageError
        self.emit("\n".join([*lines, text] if text else lines) + "\n")


def failing_line(cell: Any, execution_count: int | None,
                 traceback: list[str]) -> tuple[int, str] | None:
    """The line of the cell's own source that raised, from IPython's ``Cell In[n], line l``."""
    found = None
    for match in _CELL_LINE.finditer(_strip_color("\n".join(traceback))):
        if execution_count is None or int(match.group(1)) == execution_count:
            found = int(match.group(2))
    source = str(cell.get("source", "")).splitlines()
    if found is None or not 0 < found <= len(source):
        return None
    return found, source[found - 1].strip()
