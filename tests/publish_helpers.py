"""A seeded GitLab emulator project and a CI environment for the comment/wiki/release tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner import cli
from runner.metrics import RunResult
from tests.gitlab_emulator import GitLabEmulator
from tests.report_helpers import make_result, write_config, write_result

BOT_TOKEN = "glpat-ds-bot-0123456789"
ALICE_TOKEN = "glpat-alice-0123456789"
SHA = "a1" * 20
MAIN_SHA = "b2" * 20
CI_VARS = ("CI_SERVER_URL", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_PROJECT_PATH",
           "CI_PIPELINE_ID", "CI_PIPELINE_URL", "CI_JOB_URL", "CI_COMMIT_SHA", "CI_COMMIT_TAG",
           "CI_MERGE_REQUEST_IID", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "CI_DEFAULT_BRANCH",
           "GITLAB_TOKEN", "CI_JOB_TOKEN", "DS_IMAGE", "DS_GITLAB_MAX_RETRIES",
           "DS_RUNNER_DRY_RUN", "DS_WIKI_SETTLE_S", "MLFLOW_TRACKING_URI",
           "CI_REGISTRY_IMAGE", "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD", "DS_REGISTRY_INSECURE")


@dataclass
class Scene:
    emu: GitLabEmulator
    project_id: int
    repo: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    bot_id: int = 0

    @property
    def results(self) -> Path:
        return self.repo / ".ds-runner"

    def write(self, result: RunResult | None = None) -> RunResult:
        result = result or make_result()
        write_result(self.results, result)
        return result

    def pipeline(self, pipeline_id: int, **extra: str) -> None:
        """Set the predefined variables of pipeline ``pipeline_id`` (job id = 10 x it)."""
        web = f"{self.emu.url}/group/ds-example/-"
        self.monkeypatch.setenv("CI_PIPELINE_ID", str(pipeline_id))
        self.monkeypatch.setenv("CI_PIPELINE_URL", f"{web}/pipelines/{pipeline_id}")
        self.monkeypatch.setenv("CI_JOB_URL", f"{web}/jobs/{pipeline_id * 10}")
        for name, value in extra.items():
            self.monkeypatch.setenv(name, value)

    def run(self, *args: str) -> tuple[int, str]:
        """``ds-runner <args>`` through the real CLI entry point: (exit code, stdout+stderr)."""
        self.capsys.readouterr()
        code = cli.main(list(args))
        out = self.capsys.readouterr()
        return code, out.out + out.err

    def writes(self) -> list[Any]:
        return [r for r in self.emu.requests if r.method != "GET"]

    def add_baseline(self, ref: str, metrics: dict[str, float],
                     notebook: str = "notebooks/train.ipynb") -> None:
        """A successful execute-notebook job on ``ref`` whose artifacts hold metrics.json."""
        result = make_result(notebook, metrics=metrics)
        path = f".ds-runner/{notebook.removesuffix('.ipynb')}/metrics.json"
        self.emu.add_job(self.project_id, ref=ref, name="execute-notebook", sha=MAIN_SHA,
                         artifacts={path: json.dumps(result.to_dict())})


def release_description(tag: str, metrics: dict[str, float],
                        notebook: str = "notebooks/train.ipynb") -> str:
    doc = {"schema": 1, "tag": tag, "notebooks": {notebook: {"status": "success",
                                                            "metrics": metrics}}}
    return (f"Model {tag}\n\n<!-- ds-pipeline:release-metrics -->\n```json\n"
            f"{json.dumps(doc)}\n```\n")


def make_scene(emu: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str], *, mr: bool = True) -> Scene:
    bot = emu.add_user("ds-bot", token=BOT_TOKEN)
    emu.add_user("alice", token=ALICE_TOKEN)
    project = emu.add_project("group/ds-example", default_branch="main", sha=MAIN_SHA)
    emu.add_branch(project.id, "feat", SHA)
    if mr:
        emu.add_merge_request(project.id, iid=1, source_branch="feat", target_branch="main",
                              sha=SHA, author="alice")
    for name in CI_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path)
    for name, value in {"CI_SERVER_URL": emu.url, "CI_API_V4_URL": emu.api_url,
                        "CI_PROJECT_ID": str(project.id),
                        "CI_PROJECT_PATH": "group/ds-example", "CI_COMMIT_SHA": SHA,
                        "CI_DEFAULT_BRANCH": "main", "GITLAB_TOKEN": BOT_TOKEN,
                        "DS_GITLAB_MAX_RETRIES": "4", "DS_WIKI_SETTLE_S": "0.05"}.items():
        monkeypatch.setenv(name, value)
    scene = Scene(emu, project.id, tmp_path, monkeypatch, capsys, bot.id)
    scene.pipeline(100)
    return scene
