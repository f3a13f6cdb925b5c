"""``ds-runner execute`` on a trivial notebook vs the plain papermill CLI vs ``python -c`` (floor).

The commands run interleaved (one of each per round, after one unmeasured warm-up round), so
machine load affects them alike; the table shows medians of wall-clock time. Target: ds-runner
execute within 1.15x of papermill.

    python -m benchmarks execute        # or: python benchmarks/bench_execute.py [ROUNDS]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = ROOT / "tests" / "fixtures" / "notebooks" / "trivial.ipynb"
CODE = "x = 1 + 1\nprint(x)"  # the notebook's only cell
TARGET = 1.15
ROUNDS = 7


def _commands(work: Path) -> dict[str, list[str]]:
    nb = "notebooks/trivial.ipynb"
    return {
        "ds-runner execute": [str(BIN / "ds-runner"), "execute", nb],
        "ds-runner execute --no-html": [str(BIN / "ds-runner"), "execute", "--no-html", nb],
        "papermill": [str(BIN / "papermill"), nb, str(work / "papermill-out.ipynb")],
        "python -c (floor)": [str(BIN / "python"), "-c", CODE],
    }


def _time(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return elapsed


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-execute-"))
    try:
        (work / "notebooks").mkdir()
        shutil.copy(NOTEBOOK, work / "notebooks" / NOTEBOOK.name)
        commands = _commands(work)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for round_number in range(rounds + 1):
            for name, command in commands.items():
                elapsed = _time(command, work)
                if round_number:  # round 0 warms the page cache
                    samples[name].append(elapsed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["ds-runner execute"] / medians["papermill"]
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
    rows.append(f"\n{results['rounds']} interleaved rounds, medians; ds-runner execute is "
                f"{results['ratio_vs_papermill']:.2f}x papermill ({verdict} the "
                f"{results['target']:.2f}x target).")
    return "\n".join(rows)


def main(rounds: int = ROUNDS) -> dict[str, Any]:
    results = run(rounds)
    results["shutdown"] = shutdown_comparison(rounds)
    print(table(results), flush=True)
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
