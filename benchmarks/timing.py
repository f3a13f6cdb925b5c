"""What the benchmarks share: run commands and time them, failing loudly on a non-zero exit."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any


def run_checked(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
    """Run ``command``; a non-zero exit raises with its stderr: a broken run is no sample."""
    done = subprocess.run(list(command), cwd=cwd, env=None if env is None else dict(env),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")


def timed(runs: Iterable[tuple[Sequence[str], Mapping[str, str] | None]], cwd: Path) -> float:
    """Wall seconds of running each ``(command, env)`` one after another in ``cwd``."""
    start = time.perf_counter()
    for command, env in runs:
        run_checked(command, cwd, env)
    return time.perf_counter() - start


def command_line(main: Callable[[int], Mapping[str, Any]], doc: str, reps: int) -> None:
    """``python -m benchmarks.bench_<name> [--reps N] [--json]`` for a benchmark whose ``main``
    takes the number of rounds and returns its results with ``within_target``; the exit status
    says whether the target was met."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--reps", type=int, default=reps, help="timed rounds of each command")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    results = main(args.reps)
    if args.json:
        print(json.dumps(results, indent=2))
    sys.exit(0 if results["within_target"] else 1)
