"""How GitLab stops a job, on a real ``ds-runner execute`` process: SIGTERM to the job's process
group, SIGKILL after a grace period; Ctrl-C is SIGINT to the terminal's foreground group.

Each test starts ds-runner in a process group of its own, waits until the notebook's cell runs
(it started a child process in the kernel's session), signals the group and then checks that
no process ds-runner started is left, and what was saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import psutil
import pytest

from runner.metrics import RunResult

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"
NOTEBOOK = "stops_with_children"
LIMIT = 60  # a safety limit for each wait, never a speed target


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    for name in (NOTEBOOK, "trivial"):
        shutil.copy(FIXTURES / f"{name}.ipynb", tmp_path / "notebooks")
    return tmp_path


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, waiting for init to reap it
    except psutil.NoSuchProcess:
        return True


class Run:
    """``ds-runner execute`` in its own process group, as a GitLab job's shell runs it."""

    def __init__(self, repo: Path, *notebooks: str) -> None:
        self.folder = repo / ".ds-runner" / "notebooks" / NOTEBOOK
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runner", "execute", "--repo", str(repo),
             *(f"notebooks/{name}.ipynb" for name in notebooks)],
            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.started: list[psutil.Process] = []

    def wait_until_running(self) -> tuple[int, int]:
        """Kernel and child pids, once the cell that started the child runs."""
        pids = self.folder / "pids"
        deadline = time.monotonic() + LIMIT
        while not pids.exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the notebook never started its child"
            time.sleep(0.1)
        kernel, child = (int(p) for p in pids.read_text().split())
        self.started = psutil.Process(self.process.pid).children(recursive=True)
        assert {kernel, child} <= {p.pid for p in self.started}
        return kernel, child

    def stop(self, signum: int) -> tuple[int, str]:
        os.killpg(self.process.pid, signum)
        self.process.wait(timeout=LIMIT)
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a survivor holds the job's stdout and stderr
            err = "(stderr still held open by a process ds-runner started)"
        return self.process.returncode, err

    def survivors(self) -> list[str]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(_gone(p) for p in self.started):
            time.sleep(0.1)
        return [f"{p.pid} {p.name()}" for p in self.started if not _gone(p)]

    def kill_all(self) -> None:
        for process in self.started:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=LIMIT)


Start = Callable[..., Run]


@pytest.fixture
def run(repo: Path) -> Iterator[Start]:
    started: list[Run] = []

    def start(*notebooks: str) -> Run:
        started.append(Run(repo, *notebooks))
        return started[-1]

    yield start
    for each in started:  # nothing outlives a test, even a failed one
        each.kill_all()


@pytest.mark.parametrize("signum, code, status", [
    (signal.SIGTERM, 143, "terminated"),
    (signal.SIGINT, 130, "interrupted"),
])
def test_stop_signal_saves_everything_and_leaves_no_process(
        run: Start, repo: Path, signum: int, code: int, status: str) -> None:
    job = run(NOTEBOOK, "trivial")
    job.wait_until_running()

    returncode, err = job.stop(signum)

    assert returncode == code, err
    assert job.survivors() == []
    assert "Traceback" not in err and "Task exception was never retrieved" not in err
    name = signal.Signals(signum).name
    assert f"{NOTEBOOK}.ipynb: {status} in" in err
    result = RunResult.read(job.folder / "metrics.json")
    assert result.status == status
    assert result.metrics == {"before_stop": 1.0}  # recorded before the stop
    assert result.error is not None and result.error.ename == name
    nb = nbformat.read(job.folder / f"{NOTEBOOK}.ipynb", as_version=4)
    stopped_here = [i for i, c in enumerate(nb.cells) if 'id="ds-runner-stop"' in c.source]
    assert len(stopped_here) == 1 and name in nb.cells[stopped_here[0]].source
    assert "time.sleep(300)" in nb.cells[stopped_here[0] + 1].source  # right before the cell
    assert "running" in json.dumps(nb.cells[stopped_here[0] + 1].outputs)
    assert "ds-runner stopped the notebook here" in (job.folder / f"{NOTEBOOK}.html").read_text()
    assert not (repo / ".ds-runner" / "notebooks" / "trivial").exists()  # no more notebooks


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_kernels_started_ahead_of_their_turn_do_not_outlive_a_stop(
        run: Start, repo: Path, signum: int) -> None:
    shutil.copy(FIXTURES / "trivial.ipynb", repo / "notebooks" / "second.ipynb")
    job = run(NOTEBOOK, "trivial", "second")
    job.wait_until_running()
    deadline = time.monotonic() + LIMIT
    while len([p for p in psutil.Process(job.process.pid).children()
               if "ipykernel" in " ".join(p.cmdline())]) < 3:
        assert time.monotonic() < deadline, "the next kernels never started ahead"
        time.sleep(0.1)
    job.started = psutil.Process(job.process.pid).children(recursive=True)

    returncode, _ = job.stop(signum)

    assert returncode in (143, -signal.SIGKILL)
    assert job.survivors() == []
    for name in ("trivial", "second"):  # never got their turn: no outputs at all
        assert not (repo / ".ds-runner" / "notebooks" / name).exists()


def test_sigkill_leaves_no_process(run: Start) -> None:
    job = run(NOTEBOOK)
    job.wait_until_running()

    returncode, _ = job.stop(signal.SIGKILL)

    assert returncode == -signal.SIGKILL
    assert job.survivors() == []


def test_second_signal_stops_at_once(run: Start) -> None:
    job = run(NOTEBOOK)
    job.wait_until_running()

    os.killpg(job.process.pid, signal.SIGTERM)
    time.sleep(0.1)  # two signals, not one that arrived twice
    returncode, err = job.stop(signal.SIGTERM)

    assert returncode == 143, err
    assert "Traceback" not in err and "Task exception was never retrieved" not in err
    assert job.survivors() == []
