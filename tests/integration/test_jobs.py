"""Several notebooks in one ``ds-runner execute``: kernels started ahead of their turn, HTML
rendered while the next notebook runs, ``--jobs N``. Results must be what each notebook gives
alone, in the order given, and no kernel may outlive the run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from runner.cli import main
from runner.metrics import RunResult
from tests.git_helpers import notebook_repo

pytestmark = pytest.mark.integration

NOTEBOOKS = ["raises", "talks", "success"]
KERNEL = re.compile(r"ipykernel|kernel-.*\.json")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return notebook_repo(tmp_path, commit=False)


def _execute(repo: Path, out: str, names: list[str], *args: str) -> int:
    return main(["execute", "--repo", str(repo), "--output-dir", out, "--json", *args,
                 *(f"notebooks/{name}.ipynb" for name in names)])


def _kernels() -> list[str]:
    """Kernels (and what they started) still alive under this test process."""
    left = []
    for child in psutil.Process().children(recursive=True):
        try:
            if KERNEL.search(" ".join(child.cmdline())) and child.status() != "zombie":
                left.append(f"{child.pid} {' '.join(child.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return left


def _saved(repo: Path, out: str, name: str) -> dict[str, Any]:
    """What a notebook's run left, without what differs from run to run (times, ids)."""
    folder = repo / out / "notebooks" / name
    nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    result = RunResult.read(folder / "metrics.json")
    cells = [(c.cell_type, c.source, [{k: v for k, v in o.items() if k != "execution_count"}
                                       for o in c.get("outputs", [])]) for c in nb.cells]
    return {"status": result.status, "error": result.error, "metrics": result.metrics,
            "files": sorted(p.name for p in folder.iterdir()),
            "cells": json.dumps(cells).replace(f'"{out}/', '"OUT/')}  # the injected output_dir


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_several_notebooks_give_what_each_gives_alone(
        repo: Path, capsys: pytest.CaptureFixture[str], jobs: str) -> None:
    alone = {}
    for name in NOTEBOOKS:
        code = _execute(repo, "alone", [name])
        alone[name] = (code, _saved(repo, "alone", name))
    capsys.readouterr()

    code = _execute(repo, "together", NOTEBOOKS, "--jobs", jobs)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["notebook"] for line in lines] == [f"notebooks/{n}.ipynb" for n in NOTEBOOKS]
    assert code == max(c for c, _ in alone.values()) == 1  # the worst notebook's
    for line, name in zip(lines, NOTEBOOKS, strict=True):
        assert line["exit_code"] == alone[name][0]
        assert _saved(repo, "together", name) == alone[name][1], name
    assert _kernels() == []


def test_jobs_log_names_the_notebook_on_every_output_line(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _execute(repo, ".ds-runner", NOTEBOOKS, "--jobs", "3", "--log-output", "--no-html")

    assert code == 1
    err = capsys.readouterr().err
    assert "notebooks/talks.ipynb | first out\n" in err
    assert "notebooks/talks.ipynb | then err\n" in err
    assert "notebooks/talks.ipynb | half and whole\n" in err
    assert "notebooks/raises.ipynb | fine\n" in err
    assert re.search(r"^notebooks/raises\.ipynb \| .*ValueError: boom", err, re.MULTILINE)
    for line in err.splitlines():  # nothing unattributed: a header, a labelled line, a warning
        assert line.startswith(("ds-runner: notebooks/", "notebooks/", "WARNING ")), line
    summary = [line for line in err.splitlines() if " -> " in line]
    assert [line.split(":")[1].strip() for line in summary] == [
        f"notebooks/{n}.ipynb" for n in NOTEBOOKS]


def test_timeouts_and_failures_leave_no_kernel_and_each_clock_starts_at_its_turn(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # trivial's kernel starts at once, but its --timeout runs from its turn, after slow_cell's
    code = _execute(repo, ".ds-runner", ["slow_cell", "raises", "trivial"], "--timeout", "5",
                    "--no-html")

    statuses = [json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()]
    assert statuses == ["timeout", "failed", "success"]
    assert code == 3
    assert _kernels() == []
