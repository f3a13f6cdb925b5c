"""Many short cells: ``ds-runner execute`` against the plain papermill CLI, where the time spent
saving the notebook between cells shows (papermill saves the whole notebook twice per cell).

A notebook of CELLS cells of ``x = i``; the commands run interleaved (one of each per round,
after one unmeasured warm-up round); medians of wall-clock time. ``--compare PATH`` also times
``python -m runner execute`` from another checkout of the runner package (e.g. the previous
version, exported with ``git archive``), side by side.

    python -m benchmarks cells      # or: python -m benchmarks.bench_cells [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.timing import timed

BIN = Path(sys.executable).parent
CELLS = 300
ROUNDS = 3


def _notebook(path: Path, cells: int) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(f"x = {i}") for i in range(cells)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    nbformat.write(nb, path)


def _commands(work: Path, compare: Path | None) -> dict[str, tuple[list[str], dict[str, str]]]:
    nb = "notebooks/cells.ipynb"
    env = dict(os.environ)
    commands = {
        "ds-runner execute": ([str(BIN / "ds-runner"), "execute", nb], env),
        "papermill": ([str(BIN / "papermill"), nb, str(work / "papermill-out.ipynb")], env),
    }
    if compare is not None:
        commands[f"ds-runner execute ({compare})"] = (
            [str(BIN / "python"), "-m", "runner", "execute", nb],
            {**env, "PYTHONPATH": str(compare)})
    return commands


def run(rounds: int = ROUNDS, cells: int = CELLS, compare: Path | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-cells-"))
    try:
        (work / "notebooks").mkdir()
        _notebook(work / "notebooks" / "cells.ipynb", cells)
        commands = _commands(work, compare)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for round_number in range(rounds + 1):
            for name, (command, env) in commands.items():
                elapsed = timed([(command, env)], work)
                if round_number:  # round 0 warms the page cache
                    samples[name].append(elapsed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {"rounds": rounds, "cells": cells, "medians_s": medians, "samples_s": samples}


def table(data: dict[str, Any]) -> str:
    papermill = data["medians_s"]["papermill"]
    lines = [f"{data['cells']} cells of `x = i`, medians of {data['rounds']} interleaved rounds:",
             "", "| command | median (s) | runs (s) | vs papermill |", "|---|---:|---|---:|"]
    for name, median in data["medians_s"].items():
        runs = ", ".join(f"{v:.1f}" for v in data["samples_s"][name])
        lines.append(f"| `{name}` | {median:.2f} | {runs} | {median / papermill:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--cells", type=int, default=CELLS)
    parser.add_argument("--compare", type=Path, help="another checkout's runner package root")
    args = parser.parse_args([] if argv is None else argv)
    print(table(run(args.rounds, args.cells, args.compare)))


if __name__ == "__main__":
    main(sys.argv[1:])
