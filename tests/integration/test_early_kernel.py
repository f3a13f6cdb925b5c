"""One notebook's kernel starts before papermill is imported (issue 8 item 16), and a check that
fails after that start leaves no kernel behind. Each case runs ``ds-runner execute`` in a fresh
interpreter, which records what was imported, and the kernel's pid, when the kernel started."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"

# Wraps runner.execute.kernels.start_kernel, runs the CLI, prints what the wrapper saw.
PROBE = """
import json, sys
from runner.execute import kernels

seen = []
original = kernels.start_kernel

def start_kernel(*args, **kwargs):
    before = {name: name in sys.modules for name in ("papermill", "nbconvert")}
    manager = original(*args, **kwargs)
    seen.append({**before, "pid": manager.provisioner.process.pid, "manager": manager})
    return manager

kernels.start_kernel = start_kernel
from runner.cli import main

code = main(sys.argv[1:])
print(json.dumps({"code": code, "starts": [
    {**{k: v for k, v in s.items() if k != "manager"}, "alive": s["manager"].has_kernel}
    for s in seen]}))
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "success.ipynb", tmp_path / "notebooks")
    (tmp_path / "training_config.yaml").write_text("outcome: target\n", encoding="utf-8")
    return tmp_path


def probe(repo: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, "execute", "--repo", str(repo), *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_kernel_starts_before_papermill_is_imported(repo: Path) -> None:
    seen = probe(repo, "--log-output", "notebooks/success.ipynb", "-p", "n", "4")
    assert seen["code"] == 0
    [start] = seen["starts"]
    assert start["papermill"] is False and start["nbconvert"] is False
    assert not start["alive"] and gone(start["pid"])


def test_a_failed_check_after_the_start_leaves_no_kernel(repo: Path) -> None:
    # an unknown parameter is found once papermill reads the notebook: after the kernel started
    seen = probe(repo, "notebooks/success.ipynb", "-p", "no_such_parameter", "1")
    assert seen["code"] == 2
    [start] = seen["starts"]
    assert not start["alive"] and gone(start["pid"])
