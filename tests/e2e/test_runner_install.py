"""The step every component job starts with: ds-runner at `runner_version`, from the image or
installed from the component project's package registry in one line.

The e2e pipelines find this working tree's ds-runner on PATH at the same version, so the step
does nothing there; here it meets an image that has it (nothing is installed, the index is never
asked) and a version the index does not have (the job fails, nothing pretends to work).
tests/integration/test_runner_package.py installs the published wheel with it for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests.package_index import build_dist, install_step, needs_index_tools, start_index

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
UNREACHABLE = "http://127.0.0.1:9/simple/"


def _run(step: str, path: str, version: str, index: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "DS_", "PIP_"))}
    env.update(PATH=path, DS_RUNNER_VERSION=version, DS_RUNNER_INDEX=index,
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(["bash", "-ec", step], env=env, capture_output=True, text=True,
                          timeout=240)


@pytest.mark.parametrize("template", ["detect-notebooks", "execute-notebook", "auto-release"])
def test_step_uses_the_runner_the_image_has(template: str) -> None:
    done = _run(install_step(template), f"{Path(sys.executable).parent}:/usr/bin:/bin",
                __version__, UNREACHABLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "" and "pip" not in done.stderr


@needs_index_tools
def test_step_fails_for_a_version_the_index_lacks(tmp_path: Path) -> None:
    index = start_index(tmp_path / "index")
    try:
        assert index.upload(build_dist(tmp_path / "dist")).returncode == 0
        venv = tmp_path / "image-venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = _run(install_step(), f"{venv / 'bin'}:/usr/bin:/bin", "99.0.0", index.simple_url)
    finally:
        index.stop()
    assert done.returncode != 0
    assert "ds-pipeline-runner==99.0.0" in done.stderr, done.stderr
    assert not (venv / "bin" / "ds-runner").exists()
