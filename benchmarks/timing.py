"""What the benchmarks share: run commands and time them, failing loudly on a non-zero exit."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


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
