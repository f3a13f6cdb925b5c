"""Benchmark: how long a job takes to get ds-runner, per way of getting it.

Run ``python -m benchmarks setup`` (or ``python -m benchmarks.bench_setup --reps N``). Side
by side, interleaved, each round from a clean cache as on a fresh CI runner, each install into
a fresh venv (its creation not timed):

- the old path: ``uv pip install`` / ``pip install`` of ``ds-pipeline-runner @ git+<repo>@<sha>``
  (a local clone of this working tree: no network for the runner itself, PyPI for its
  dependencies);
- the package registry: the templates' one-line step, ``pip install --index-url <index>
  ds-pipeline-runner==<version>``, from a local pypiserver holding the wheel (dependencies via
  its redirect to PyPI, as GitLab forwards them);
- the runner image: the same step inside the image built from Dockerfile.runner (buildah run,
  chroot), where it only runs ``ds-runner --version``. Target: under 1 s.

The image needs buildah and the Debian base of the tests (debootstrap, cached); without them the
last row is left out.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.timing import command_line
from runner import __version__
from tests.package_index import BIN, ROOT, build_dist, build_runner_image, install_step, start_index
from tests.registry_helpers import Storage

TARGET_S = 1.0
OLD, OLD_PIP = "uv pip install from git at a commit (old)", "pip install from git at a commit (old)"
INDEX = "one-line step: pip install from the package registry"
IMAGE = "one-line step in the runner image (ds-runner --version)"


def _env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("CI_", "DS_", "PIP_", "UV_", "VIRTUAL_ENV"))}
    # no pip.conf, no cache: a job on a fresh runner; keep the machine's CA settings
    cert = {"PIP_CERT": os.environ["PIP_CERT"]} if "PIP_CERT" in os.environ else {}
    return {**clean, **cert, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return elapsed


def _fresh_venv(work: Path) -> Path:
    venv = Path(tempfile.mkdtemp(prefix="venv-", dir=work))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv


def _git_clone(work: Path) -> tuple[str, str]:
    """This working tree's runner as a git repository (what the old step installed from)."""
    source = work / "component-project"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "runner", source / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "runner"]):
        subprocess.run(["git", "-C", str(source), *args], check=True, env=env)
    sha = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return f"file://localhost{source}", sha  # a host: older pip's URL check wants one


def _image_runner(work: Path, wheel: Path) -> Callable[[], float] | None:
    if not (shutil.which("buildah") and shutil.which("debootstrap") and os.geteuid() == 0):
        return None
    storage = Storage(work / "buildah" / "root", work / "buildah" / "runroot")
    image = build_runner_image(storage, wheel, f"localhost/ds-runner:{__version__}",
                               work / "image")
    container = storage.buildah("from", image).strip()
    argv = ["buildah", *storage.options(), "run", "--isolation", "chroot",
            "--env", f"DS_RUNNER_VERSION={__version__}",
            "--env", "DS_RUNNER_INDEX=http://127.0.0.1:9/simple/", container, "--",
            "sh", "-ec", install_step()]
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    return lambda: _timed(argv, env)


def main(reps: int = 3) -> dict[str, Any]:
    """Run the benchmark, print its Markdown table and return the numbers."""
    work = Path(tempfile.mkdtemp(prefix="bench-setup-"))
    index = None
    try:
        dist = build_dist(work / "dist")
        index = start_index(work / "index")
        if index.upload(dist).returncode != 0:
            raise RuntimeError("upload to the local index failed")
        url, sha = _git_clone(work)
        requirement = f"ds-pipeline-runner @ git+{url}@{sha}"
        step = install_step()

        def old_uv() -> float:
            venv = _fresh_venv(work)
            cache = tempfile.mkdtemp(prefix="uv-cache-", dir=work)
            return _timed([str(BIN / "uv"), "pip", "install", "-q", "--python",
                           str(venv / "bin" / "python"), requirement],
                          _env(UV_CACHE_DIR=cache))

        def old_pip() -> float:
            venv = _fresh_venv(work)
            return _timed([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                           requirement], _env())

        def registry() -> float:
            venv = _fresh_venv(work)
            assert index is not None
            return _timed(["bash", "-ec", step], _env(
                PATH=f"{venv / 'bin'}:/usr/bin:/bin", DS_RUNNER_VERSION=__version__,
                DS_RUNNER_INDEX=index.simple_url))

        ways: dict[str, Callable[[], float]] = {OLD: old_uv, OLD_PIP: old_pip, INDEX: registry}
        in_image = _image_runner(work, dist[0])
        if in_image is not None:
            ways[IMAGE] = in_image
        times: dict[str, list[float]] = {name: [] for name in ways}
        names = list(ways)
        for rep in range(reps):
            for name in names if rep % 2 == 0 else reversed(names):
                times[name].append(ways[name]())
    finally:
        if index is not None:
            index.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: round(statistics.median(t), 3) for name, t in times.items()}
    summary: dict[str, Any] = {
        "reps": reps, "medians": medians,
        "min": {name: round(min(t), 3) for name, t in times.items()},
        "max": {name: round(max(t), 3) for name, t in times.items()},
        "image_s": medians.get(IMAGE), "target_s": TARGET_S,
        "within_target": medians.get(IMAGE, TARGET_S + 1) < TARGET_S,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(table(summary), flush=True)
    return summary


def table(summary: dict[str, Any]) -> str:
    old = summary["medians"][OLD]
    lines = [f"ds-runner set-up per job, {summary['reps']} interleaved rounds from a clean cache",
             "", "| how the job gets ds-runner | median (s) | min (s) | max (s) | vs old (uv) |",
             "|---|---:|---:|---:|---:|"]
    for name, median in summary["medians"].items():
        lines.append(f"| {name} | {median:.3f} | {summary['min'][name]:.3f} | "
                     f"{summary['max'][name]:.3f} | {median / old:.2f}x |")
    if summary["image_s"] is None:
        lines += ["", "runner image: not measured (needs buildah and debootstrap as root)"]
    else:
        verdict = "met" if summary["within_target"] else "MISSED"
        lines += ["", f"target: in the image < {summary['target_s']:.1f} s -> "
                      f"{summary['image_s']:.3f} s, {verdict} (1-min load average at the end: "
                      f"{summary['load_average']})"]
    return "\n".join(lines)


if __name__ == "__main__":
    command_line(main, __doc__, reps=3)
