"""``ds-runner execute`` on a trivial notebook vs the plain papermill CLI vs ``python -c`` (floor).

The commands run interleaved (one of each per round, after one unmeasured warm-up round), so
machine load affects them alike; the table shows medians of wall-clock time. Target: ds-runner
execute with HTML and the live log on (``--log-output``, as in CI) at 0.85x papermill or better.
``--compare PATH`` also times that command from another checkout of the runner package (e.g.
the previous version, exported with ``git archive``), side by side.

    python -m benchmarks execute        # or: python -m benchmarks.bench_execute [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.timing import timed

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "tests" / "fixtures" / "notebooks" / "trivial.ipynb"
CODE = "x = 1 + 1\nprint(x)"  # the notebook's only cell
TARGET = 0.85
ROUNDS = 7


MAIN = "ds-runner execute --log-output"


def _commands(work: Path, compare: Path | None = None) -> dict[str, list[str]]:
    nb = "notebooks/trivial.ipynb"
    ds = [str(BIN / "ds-runner"), "execute"]
    commands = {
        MAIN: [*ds, "--log-output", nb],
        "ds-runner execute": [*ds, nb],
        "ds-runner execute --no-html": [*ds, "--no-html", nb],
        "papermill": [str(BIN / "papermill"), nb, str(work / "papermill-out.ipynb")],
        "python -c (floor)": [str(BIN / "python"), "-c", CODE],
    }
    if compare is not None:
        commands[f"{MAIN} ({compare})"] = [str(BIN / "python"), "-m", "runner", "execute",
                                           "--log-output", nb]
    return commands


def _time(command: list[str], cwd: Path, compare: Path | None = None) -> float:
    env = dict(os.environ)
    if compare is not None and command[1:3] == ["-m", "runner"]:
        env["PYTHONPATH"] = str(compare)
    return timed([(command, env)], cwd)


def run(rounds: int = ROUNDS, compare: Path | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-execute-"))
    try:
        (work / "notebooks").mkdir()
        shutil.copy(NOTEBOOK, work / "notebooks" / NOTEBOOK.name)
        commands = _commands(work, compare)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for round_number in range(rounds + 1):
            for name, command in commands.items():
                elapsed = _time(command, work, compare)
                if round_number:  # round 0 warms the page cache
                    samples[name].append(elapsed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians[MAIN] / medians["papermill"]
    return {"rounds": rounds, "medians_s": medians, "samples_s": samples,
            "ratio_vs_papermill": ratio,
            "ratio_no_html_vs_papermill": medians["ds-runner execute --no-html"]
            / medians["papermill"],
            "target": TARGET, "meets_target": ratio <= TARGET}


def shutdown_comparison(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """nbclient on the trivial notebook with a graceful vs an immediate kernel shutdown."""
    import nbformat
    from nbclient import NotebookClient

    samples: dict[str, list[float]] = {"graceful": [], "immediate": []}
    for _ in range(rounds):
        for mode, values in samples.items():
            nb = nbformat.read(NOTEBOOK, as_version=4)
            start = time.perf_counter()
            NotebookClient(nb, kernel_name="python3", shutdown_kernel=mode).execute(
                stderr=subprocess.DEVNULL)  # the kernel's start-up warnings
            values.append(time.perf_counter() - start)
    return {mode: {"median_s": statistics.median(v), "max_s": max(v)}
            for mode, v in samples.items()}


def table(results: dict[str, Any]) -> str:
    base = results["medians_s"]["papermill"]
    rows = ["| command | median (s) | vs papermill |", "|---|---:|---:|"]
    for name, value in results["medians_s"].items():
        rows.append(f"| `{name}` | {value:.3f} | {value / base:.2f}x |")
    shutdown = results.get("shutdown")
    if shutdown:
        rows.append("\n| kernel shutdown (nbclient, in process) | median (s) | max (s) |")
        rows.append("|---|---:|---:|")
        for mode, value in shutdown.items():
            rows.append(f"| {mode} | {value['median_s']:.3f} | {value['max_s']:.3f} |")
    verdict = "meets" if results["meets_target"] else "MISSES"
    rows.append(f"\n{results['rounds']} interleaved rounds, medians; `{MAIN}` is "
                f"{results['ratio_vs_papermill']:.2f}x papermill ({verdict} the "
                f"{results['target']:.2f}x target).")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--compare", type=Path, help="another checkout's runner package root")
    args = parser.parse_args([] if argv is None else argv)
    results = run(args.rounds, args.compare)
    results["shutdown"] = shutdown_comparison(args.rounds)
    print(table(results), flush=True)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
