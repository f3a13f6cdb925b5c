"""Benchmark: ``ds-runner detect`` vs ``git diff --name-only`` (the floor) on a big repository.

Run ``python benchmarks/bench_detect.py [--reps N]``. The first run generates, with
``git fast-import``, a repository of 5,000 notebooks and 2,000 commits under
``benchmarks/.work/`` (gitignored) and reuses it afterwards. Both commands run as subprocesses,
interleaved (alternating which goes first), and the medians are compared with the target
``detect <= 2 x floor + 0.2 s``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.timing import command_line

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
NOTEBOOKS = 5000
COMMITS = 2000
BASE_INDEX, HEAD_INDEX = 100, 1900  # the push compares these two commits (0-based)
VERSION = 1  # bump when the generator changes, so the cached repository is rebuilt
GIT_ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GIT_", "DS_"))}
    return {**clean, **GIT_ENV}


def _notebook(name: str, revision: int) -> bytes:
    cell: dict[str, Any] = {
        "cell_type": "code", "execution_count": None, "id": "c1", "metadata": {}, "outputs": [],
        "source": [f"# {name} revision {revision}\n", "x = 1\n"]}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                      indent=1).encode()


def _blob(data: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(data), data)


def _stream() -> bytes:
    """A fast-import stream: 5,000 notebooks at first, then edits, adds, deletes and renames."""
    rng = random.Random(42)
    live = [f"notebooks/group_{i % 50:02d}/nb_{i:05d}.ipynb" for i in range(NOTEBOOKS)]
    revision = dict.fromkeys(live, 0)
    out: list[bytes] = []
    for n in range(COMMITS):
        ops: list[bytes] = []
        if n == 0:
            ops += [b"M 100644 inline %s\n" % p.encode() + _blob(_notebook(p, 0)) for p in live]
            ops.append(b"M 100644 inline README.md\n" + _blob(b"# bench\n"))
        else:
            for path in rng.sample(live, 3):
                revision[path] += 1
                ops.append(b"M 100644 inline %s\n" % path.encode()
                           + _blob(_notebook(path, revision[path])))
            ops.append(b"M 100644 inline src/module.py\n" + _blob(b"VERSION = %d\n" % n))
            if n % 50 == 0:
                new = f"notebooks/new/nb_{n:05d}.ipynb"
                live.append(new)
                revision[new] = 0
                ops.append(b"M 100644 inline %s\n" % new.encode() + _blob(_notebook(new, 0)))
            if n % 97 == 0:
                gone = live.pop(rng.randrange(len(live)))
                ops.append(b"D %s\n" % gone.encode())
            if n % 113 == 0:
                old = live.pop(rng.randrange(len(live)))
                new = old.replace("notebooks/", "notebooks/renamed/")
                live.append(new)
                revision[new] = revision.pop(old)
                ops.append(b'R "%s" "%s"\n' % (old.encode(), new.encode()))
        stamp = 1_700_000_000 + n * 60
        message = b"commit %d\n" % n
        out.append(b"commit refs/heads/main\nmark :%d\n" % (n + 1)
                   + b"committer Bench <bench@example.com> %d +0000\n" % stamp
                   + b"data %d\n%s" % (len(message), message)
                   + (b"from :%d\n" % n if n else b"") + b"".join(ops) + b"\n")
    return b"".join(out)


def build_repo() -> tuple[Path, str, str]:
    """The cached benchmark repository and the two commits compared: (path, base, head)."""
    repo = WORK / f"detect-repo-v{VERSION}"
    ready = repo / ".bench-ready.json"
    if ready.is_file():
        info = json.loads(ready.read_text())
        return repo, info["base"], info["head"]
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    started = time.perf_counter()

    def git(*args: str, stdin: bytes | None = None) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], input=stdin, env=_env(),
                              capture_output=True, check=True).stdout.decode().strip()

    git("-c", "init.defaultBranch=main", "init", "-q")
    git("fast-import", "--quiet", stdin=_stream())
    git("checkout", "-q", "-f", "main")
    shas = git("rev-list", "--reverse", "main").split()
    base, head = shas[BASE_INDEX], shas[HEAD_INDEX]
    ready.write_text(json.dumps({"base": base, "head": head, "commits": len(shas)}))
    print(f"generated {repo} ({len(shas)} commits) in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return repo, base, head


def _ds_runner() -> str:
    local = ROOT / ".venv" / "bin" / "ds-runner"
    found = str(local) if local.exists() else shutil.which("ds-runner")
    if not found:
        raise SystemExit("ds-runner is not installed (run ./dev run or pip install -e .)")
    return found


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Wall time, CPU time (user + system, children included) and stdout of one run."""
    cpu, started = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.perf_counter() - started, _cpu() - cpu, proc.stdout


def main(reps: int = 15) -> dict[str, Any]:
    """Run the benchmark, print its Markdown table and return the numbers."""
    repo, base, head = build_repo()
    env = _env()
    commands = {
        "git diff --name-only (floor)": ["git", "-C", str(repo), "diff", "--name-only", base,
                                         head],
        "ds-runner detect --json": [_ds_runner(), "detect", "--json", "--repo", str(repo),
                                    "--source", "push", "--sha", head, "--before-sha", base,
                                    "--message", ""],
        "ds-runner --version (startup only)": [_ds_runner(), "--version"],
    }
    outputs = {name: _time(cmd, env)[2] for name, cmd in commands.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            wall, used, _ = _time(commands[name], env)
            times[name].append(wall)
            cpu[name].append(used)
    floor_name, detect_name, startup_name = names
    floor, detected = statistics.median(times[floor_name]), statistics.median(times[detect_name])
    result = json.loads(outputs[detect_name])
    target = 2 * floor + 0.2
    summary: dict[str, Any] = {
        "reps": reps, "notebooks_in_repo": NOTEBOOKS, "commits": COMMITS,
        "changed_files": len(outputs[floor_name].splitlines()),
        "notebooks_detected": len(result["notebooks"]),
        "floor_s": round(floor, 4), "detect_s": round(detected, 4),
        "startup_s": round(statistics.median(times[startup_name]), 4),
        "target_s": round(target, 4), "within_target": detected <= target,
        "medians": {name: round(statistics.median(t), 4) for name, t in times.items()},
        "min": {name: round(min(t), 4) for name, t in times.items()},
        "max": {name: round(max(t), 4) for name, t in times.items()},
        "cpu_medians": {name: round(statistics.median(t), 4) for name, t in cpu.items()},
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(table(summary), flush=True)
    return summary


def table(summary: dict[str, Any]) -> str:
    lines = [f"detect benchmark: {summary['notebooks_in_repo']} notebooks, {summary['commits']} "
             f"commits, push over {HEAD_INDEX - BASE_INDEX} commits "
             f"({summary['changed_files']} files changed, {summary['notebooks_detected']} "
             f"notebooks detected), {summary['reps']} interleaved runs", "",
             "| command | median wall (s) | min (s) | max (s) | median CPU (s) |",
             "|---|---:|---:|---:|---:|"]
    for name, median in summary["medians"].items():
        lines.append(f"| `{name}` | {median:.3f} | {summary['min'][name]:.3f} | "
                     f"{summary['max'][name]:.3f} | {summary['cpu_medians'][name]:.3f} |")
    verdict = "met" if summary["within_target"] else "MISSED"
    lines += ["", f"target: detect <= 2 x floor + 0.2 s = {summary['target_s']:.3f} s -> "
                  f"{summary['detect_s']:.3f} s, {verdict} (1-min load average at the end: "
                  f"{summary['load_average']})"]
    return "\n".join(lines)


if __name__ == "__main__":
    command_line(main, __doc__, reps=15)
