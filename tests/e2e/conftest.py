"""End-to-end fixtures: gitlab-ci-local, a GitLab emulator on loopback, a template repository."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import __version__
from tests.e2e.gcl import INDEX, PROJECT_PATH, Repo, available
from tests.gitlab_emulator import GitLabEmulator

TOKEN = "glpat-e2e-bot"


@dataclass
class Env:
    emulator: GitLabEmulator
    project_id: int
    base: Repo
    tmp: Path

    def repo(self, name: str) -> Repo:
        """A fresh copy of the base repository, pointed at the emulator."""
        repo = self.base.copy(self.tmp / name)
        repo.variables.update({
            "CI_SERVER_URL": self.emulator.url,
            "CI_PROJECT_ID": str(self.project_id),
            "MLFLOW_TRACKING_URI": (self.tmp / name / "mlruns").as_uri(),
        })
        return repo


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if not available():
        pytest.skip("gitlab-ci-local or node is not installed in .tools (./dev test installs them)")
    tmp = tmp_path_factory.mktemp("e2e")
    inputs = {
        # no registry under gitlab-ci-local: build-container just passes this image on
        "image": "python:3.11",
        "secret_detection": False,  # GitLab's template cannot be downloaded here
        "runner_version": __version__,  # the ds-runner on PATH: this working tree's
        "runner_index": INDEX,  # never reached: the runner on PATH has runner_version
    }
    base = Repo.create(tmp / "base", inputs)
    emulator = GitLabEmulator.start()
    try:
        emulator.add_user("ds-bot", token=TOKEN, bot=True)
        project = emulator.add_project(PROJECT_PATH, default_branch="main")
        yield Env(emulator, project.id, base, tmp)
    finally:
        emulator.stop()
