"""The step every component job starts with: ds-runner at `runner_version`, installed if needed.

The e2e pipelines find this working tree's ds-runner on PATH at the same version, so they take
the "in the image" branch; here the other branch really installs the runner from a git
repository at a pinned commit (as a job does from the component project) into a fresh venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests.e2e.gcl import ROOT, git

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _install_step() -> str:
    text = (ROOT / "templates" / "execute-notebook.yml").read_text(encoding="utf-8")
    start = text.index("    # ds-runner at runner_version")
    block = text[text.index("- |\n", start) + 4:text.index("\n      fi\n", start) + 9]
    return "\n".join(line[6:] for line in block.splitlines())


def test_install_step_pins_the_runner_to_a_commit(tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    if not uv.is_file():
        pytest.skip("uv is not installed in the venv")
    source = tmp_path / "component-project"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "runner", source / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "runner")
    sha = git(source, "rev-parse", "HEAD")
    venv = tmp_path / "image-venv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").symlink_to(uv)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{tools}:/usr/bin:/bin",
           "VIRTUAL_ENV": str(venv), "DS_RUNNER_SOURCE": source.as_uri()}
    step = _install_step()

    first = subprocess.run(["bash", "-ec", step], env={**env, "DS_RUNNER_VERSION": sha},
                           capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "is in the image" not in first.stdout
    installed = subprocess.run([str(venv / "bin" / "ds-runner"), "--version"],
                               capture_output=True, text=True, check=True)
    assert installed.stdout.strip() == f"ds-runner, version {__version__}"
    (direct_url,) = venv.glob("lib/python*/site-packages/ds_pipeline_runner-*.dist-info/"
                              "direct_url.json")
    assert json.loads(direct_url.read_text())["vcs_info"]["commit_id"] == sha

    pinned = subprocess.run(["bash", "-ec", step], env={**env, "DS_RUNNER_VERSION": sha},
                            capture_output=True, text=True, timeout=60)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.strip() == f"ds-runner {sha} is in the image"  # found by its commit

    again = subprocess.run(["bash", "-ec", step],
                           env={**env, "DS_RUNNER_VERSION": f"v{__version__}"},
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"ds-runner {__version__} is in the image"
