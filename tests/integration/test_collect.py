"""``ds-runner collect`` against the GitLab emulator, through the real python-gitlab client:
a parent pipeline whose trigger job started a child pipeline with one job per notebook."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

from runner.metrics import CellError
from tests.gitlab_emulator import GitLabEmulator, Pipeline
from tests.publish_helpers import BOT_TOKEN, SHA, Scene, make_scene
from tests.report_helpers import make_result, write_result

pytestmark = pytest.mark.integration
TRIGGER = "execute-notebook-child"


def artifacts_of(tmp: Path, notebook: str, job_url: str, **kw: object) -> dict[str, bytes | str]:
    """What a child job's archive holds: its ``.ds-runner/<notebook stem>/`` folder, with the
    paths a GitLab runner stores (``.ds-runner/notebooks/a/metrics.json``)."""
    stem = notebook.removesuffix(".ipynb").rsplit("/", 1)[-1]
    result = make_result(notebook, info={"job_url": job_url, "model_path": "m.json"}, **kw)
    result.artifacts = {"notebook": f"{stem}.ipynb", "metrics_report": "metrics.txt"}
    folder = write_result(tmp / ".ds-runner", result)
    (folder / f"{stem}.ipynb").write_text("{}", encoding="utf-8")
    (folder / "metrics.txt").write_text("auc 0.97\n", encoding="utf-8")
    return {p.relative_to(tmp).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Pipelines:
    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        emu = scene.emu
        self.parent: Pipeline = emu.add_pipeline(scene.project_id, ref="feat", sha=SHA,
                                                 source="merge_request_event", user="ds-bot")
        scene.pipeline(self.parent.id, CI_MERGE_REQUEST_IID="1",
                       CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")

    def child(self, jobs: dict[str, tuple[str, dict[str, bytes | str]]],
              status: str = "success") -> Pipeline:
        emu, pid = self.scene.emu, self.scene.project_id
        child = emu.add_child_pipeline(pid, self.parent, trigger=TRIGGER, status=status)
        for name, (job_status, files) in jobs.items():
            emu.add_job(pid, ref="feat", name=name, status=job_status, pipeline=child,
                        stage="execute", artifacts=files or None)
        return child


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    repo = tmp_path / "repo"
    repo.mkdir()
    return make_scene(emulator, repo, monkeypatch, capsys)


def two_notebooks(scene: Scene, tmp_path: Path) -> Pipelines:
    web = f"{scene.emu.url}/group/ds-example/-/jobs"
    p = Pipelines(scene)
    p.child({
        "execute:notebooks/a": ("success", artifacts_of(tmp_path / "a", "notebooks/a.ipynb",
                                                        f"{web}/901")),
        "execute:notebooks/b": ("failed", artifacts_of(
            tmp_path / "b", "notebooks/b.ipynb", f"{web}/902", status="failed",
            metrics={"auc": 0.5}, error=CellError(3, "ValueError", "bad data"))),
        "ds-runner:lint": ("success", {}),            # no artifacts: nothing to fetch
    }, status="failed")
    return p


def test_collects_success_and_failure_and_the_comment_publishes_both(
        scene: Scene, tmp_path: Path) -> None:
    two_notebooks(scene, tmp_path)
    code, out = scene.run("collect", "--trigger-job", TRIGGER)
    assert code == 0, out
    assert "collected notebooks/a.ipynb (success) from job" in out
    assert "collected notebooks/b.ipynb (failed) from job" in out
    assert "2 notebook result(s) collected into .ds-runner" in out
    a = scene.results / "notebooks" / "a"
    assert sorted(p.name for p in a.rglob("*") if p.is_file()) == [
        "a.ipynb", "m.json", "metrics.json", "metrics.txt", "roc.png"]
    assert (scene.results / "notebooks" / "b" / "metrics.json").is_file()
    assert not list(scene.repo.glob(".collect-*"))            # staging is cleaned up
    assert {r.auth for r in scene.emu.requests} == {"private_token"}

    code, out = scene.run("comment")
    assert code == 0, out
    [note] = [n for n in scene.emu.notes(scene.project_id, 1)]
    assert "notebooks/a.ipynb" in note.body and "notebooks/b.ipynb" in note.body
    assert "ValueError" in note.body
    assert "/-/jobs/901/artifacts/file/.ds-runner/notebooks/a/a.ipynb" in note.body


def test_comment_after_collect_finds_main_s_child_job_baseline(scene: Scene,
                                                               tmp_path: Path) -> None:
    """main ran notebooks/a in a child pipeline; the collected result names no job, so the
    comment's baseline search derives the child job's name from the notebook's path."""
    emu, pid = scene.emu, scene.project_id
    main = emu.add_pipeline(pid, ref="main", sha="c3" * 20)
    child = emu.add_child_pipeline(pid, main, trigger=TRIGGER)
    old = make_result("notebooks/a.ipynb", metrics={"auc": 0.9, "logloss": 0.3})
    job = emu.add_job(pid, ref="main", name="execute:notebooks/a", pipeline=child,
                      artifacts={".ds-runner/notebooks/a/metrics.json":
                                 json.dumps(old.to_dict())})
    two_notebooks(scene, tmp_path)
    assert scene.run("collect")[0] == 0
    code, out = scene.run("comment")
    assert code == 0, out
    [note] = scene.emu.notes(pid, 1)
    assert "| `auc` ↑ | 0.97 | 0.9 | ▲ +0.07" in note.body
    assert f"[pipeline #{child.id}](" in note.body and f"[job #{job.id}](" in note.body


def test_dry_run_lists_the_downloads_and_writes_nothing(scene: Scene, tmp_path: Path) -> None:
    two_notebooks(scene, tmp_path)
    code, out = scene.run("collect", "--dry-run")
    assert code == 0, out
    assert out.count("[dry-run] would download the artifacts of job") == 2
    assert "execute:notebooks/b (failed," in out
    assert not scene.results.exists()
    assert not [r for r in scene.emu.requests if r.path.endswith("/artifacts")]


@pytest.mark.parametrize("entry", [".ds-runner/../../evil.txt", "../evil.txt", "/tmp/evil.txt",
                                   ".ds-runner\\..\\evil.txt"])
def test_an_archive_with_a_path_traversal_entry_is_rejected_whole(
        scene: Scene, tmp_path: Path, entry: str) -> None:
    good = artifacts_of(tmp_path / "a", "notebooks/a.ipynb", "")
    p = Pipelines(scene)
    p.child({"execute:notebooks/a": ("success", good),
             "execute:notebooks/evil": ("success", {".ds-runner/x/metrics.json": "{}",
                                                    entry: "owned"})})
    code, out = scene.run("collect")
    assert code == 1, out
    assert "unsafe entry" in out and "refusing to extract" in out
    assert not list(tmp_path.rglob("evil.txt")) and not Path("/tmp/evil.txt").exists()
    assert not scene.results.exists()                          # all or nothing
    assert not list(scene.repo.glob(".collect-*"))


def test_job_token_only_exits_10_with_one_line(scene: Scene, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    two_notebooks(scene, tmp_path)
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", "glcbt-some-job-token")
    code, out = scene.run("collect")
    assert code == 10
    [line] = out.strip().splitlines()
    assert "GITLAB_TOKEN is not set" in line and "CI_JOB_TOKEN" in line
    assert "parallel" in line and "glcbt-some-job-token" not in line
    assert scene.emu.requests == []


def test_no_trigger_job_means_nothing_to_collect(scene: Scene) -> None:
    Pipelines(scene)
    code, out = scene.run("collect", "--trigger-job", TRIGGER)
    assert code == 0, out
    assert "nothing to collect (sequential mode)" in out
    assert not scene.results.exists()


def test_trigger_job_without_downstream_pipeline(scene: Scene) -> None:
    p = Pipelines(scene)
    scene.emu.add_bridge(scene.project_id, pipeline=p.parent, name=TRIGGER)
    code, out = scene.run("collect")
    assert code == 0, out
    assert f"trigger job {TRIGGER} (failed) started no pipeline" in out
    assert "nothing to collect" in out


def test_survives_502_on_every_kind_of_call(scene: Scene, tmp_path: Path) -> None:
    two_notebooks(scene, tmp_path)
    faults = [scene.emu.faults.add(path, status=502, times=1)
              for path in (r"/bridges$", r"/pipelines/\d+/jobs$", r"/jobs/\d+/artifacts$")]
    code, out = scene.run("collect")
    assert code == 0, out
    assert [f.hits for f in faults] == [1, 1, 1]
    assert out.count("collected notebooks/") == 2


def test_pages_through_many_jobs_and_honours_the_size_limit(scene: Scene,
                                                            tmp_path: Path) -> None:
    p = Pipelines(scene)
    jobs: dict[str, tuple[str, dict[str, bytes | str]]] = {
        f"other-{i}": ("success", {}) for i in range(101)}
    jobs["execute:notebooks/a"] = ("success", artifacts_of(tmp_path, "notebooks/a.ipynb", ""))
    jobs["execute:notebooks/big"] = ("success", {".ds-runner/big/blob": os.urandom(1_200_000)})
    p.child(jobs)
    code, out = scene.run("collect", "--max-archive-mb", "1")
    assert code == 1 and "over the limit of 1 MB" in out, out
    pages = [r for r in scene.emu.requests if r.path.endswith("/jobs")]
    assert len(pages) == 2
    code, out = scene.run("collect")
    assert code == 0 and out.count("collected notebooks/") == 1, out
    assert "job " in out and "big" in out and "no metrics.json" in out


def test_bridges_endpoint_has_gitlabs_shape(emulator: GitLabEmulator) -> None:
    emulator.add_user("ds-bot", token=BOT_TOKEN)
    project = emulator.add_project("group/ds-example")
    parent = emulator.add_pipeline(project.id, ref="main")
    child = emulator.add_child_pipeline(project.id, parent, trigger="run-child", status="failed")
    job = emulator.add_job(project.id, ref="main", name="build", pipeline=parent,
                           status="running")
    emulator.add_bridge(project.id, pipeline=parent, name="no-child")
    url = f"{emulator.api_url}/projects/{project.id}/pipelines/{parent.id}/bridges"
    answer = requests.get(url, headers={"PRIVATE-TOKEN": BOT_TOKEN}, timeout=5)
    assert answer.status_code == 200 and answer.headers["x-total"] == "2"
    none, bridge = answer.json()
    assert none["name"] == "no-child" and none["downstream_pipeline"] is None
    assert bridge["name"] == "run-child" and bridge["status"] == "failed"
    assert {"id", "status", "stage", "name", "ref", "tag", "created_at", "user", "commit",
            "pipeline", "web_url", "failure_reason"} <= set(bridge)
    assert bridge["pipeline"]["id"] == parent.id
    down = bridge["downstream_pipeline"]
    assert down["id"] == child.id and down["source"] == "parent_pipeline"
    assert {"id", "project_id", "sha", "ref", "status", "web_url"} <= set(down)
    scoped = requests.get(url, params={"scope[]": "success"},
                          headers={"PRIVATE-TOKEN": BOT_TOKEN}, timeout=5)
    assert scoped.json() == []
    jobs = requests.get(f"{emulator.api_url}/projects/{project.id}/pipelines/{parent.id}/jobs",
                        headers={"PRIVATE-TOKEN": BOT_TOKEN}, timeout=5).json()
    assert [j["name"] for j in jobs] == ["build"]              # bridges are not jobs
    as_job = requests.get(url, headers={"JOB-TOKEN": job.token}, timeout=5)
    assert as_job.status_code == 404                           # job tokens cannot list them
