"""Several notebooks in one job: one ``ds-runner execute`` of NOTEBOOKS trivial notebooks (with
and without ``--jobs 2``) against as many ``papermill`` CLI runs one after another, as a job
script without ds-runner would do it. Target: at least 3x faster than the papermill runs.

The variants run interleaved (one of each per round, after one unmeasured warm-up round), so
machine load affects them alike; medians of wall-clock time. ``--compare PATH`` also times
``python -m runner execute`` from another checkout of the runner package (e.g. the previous
version, exported with ``git archive``), side by side.

    python -m benchmarks notebooks   # or: python -m benchmarks.bench_notebooks [--rounds N]
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "tests" / "fixtures" / "notebooks" / "trivial.ipynb"
NOTEBOOKS = 5
ROUNDS = 5
TARGET = 3.0  # times faster than the papermill runs
Runs = list[tuple[list[str], dict[str, str]]]  # commands run one after another, timed together


def _variants(work: Path, count: int, compare: Path | None) -> dict[str, Runs]:
    names = [f"notebooks/n{i}.ipynb" for i in range(1, count + 1)]
    env = {**os.environ, "CI": "true"}  # the live log (--log-output) is on, as in a CI job
    ds = [str(BIN / "ds-runner"), "execute", *names]
    variants: dict[str, Runs] = {
        f"{count} x papermill": [([str(BIN / "papermill"), name,
                                   str(work / f"pm-{i}.ipynb")], env)
                                 for i, name in enumerate(names)],
        f"ds-runner execute ({count} notebooks)": [(ds, env)],
        f"ds-runner execute --jobs 2 ({count} notebooks)": [([*ds, "--jobs", "2"], env)],
    }
    if compare is not None:
        variants[f"ds-runner execute ({compare})"] = [
            ([str(BIN / "python"), "-m", "runner", "execute", *names],
             {**env, "PYTHONPATH": str(compare)})]
    return variants


def run(rounds: int = ROUNDS, count: int = NOTEBOOKS,
        compare: Path | None = None) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-notebooks-"))
    try:
        (work / "notebooks").mkdir()
        for i in range(1, count + 1):
            shutil.copy(NOTEBOOK, work / "notebooks" / f"n{i}.ipynb")
        variants = _variants(work, count, compare)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_number in range(rounds + 1):
            for name, runs in variants.items():
                elapsed = timed(runs, work)
                if round_number:  # round 0 warms the page cache
                    samples[name].append(elapsed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {"rounds": rounds, "notebooks": count, "medians_s": medians, "samples_s": samples}


def table(data: dict[str, Any]) -> str:
    medians = data["medians_s"]
    base = medians[f"{data['notebooks']} x papermill"]
    lines = [f"{data['notebooks']} trivial notebooks, `CI=true` (live log on), medians of "
             f"{data['rounds']} interleaved rounds:", "",
             "| command | median (s) | runs (s) | papermill runs / this |",
             "|---|---:|---|---:|"]
    for name, median in medians.items():
        runs = ", ".join(f"{v:.2f}" for v in data["samples_s"][name])
        lines.append(f"| `{name}` | {median:.2f} | {runs} | {base / median:.2f}x |")
    lines.append(f"\nTarget: {TARGET:.0f}x faster than the papermill runs.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--notebooks", type=int, default=NOTEBOOKS)
    parser.add_argument("--compare", type=Path, help="another checkout's runner package root")
    args = parser.parse_args([] if argv is None else argv)
    print(table(run(args.rounds, args.notebooks, args.compare)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
