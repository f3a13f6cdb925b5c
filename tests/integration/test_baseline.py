"""The target-branch baseline of ``ds-runner comment`` on a main branch with a real history,
and the GitLab rules it works around, through the real python-gitlab client and the emulator.

GitLab's artifacts-by-ref look-up reads only the latest successful pipeline of the ref
(gitlab-org/gitlab#349316), so the comment searches the jobs list instead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gitlab as gl
import pytest

from runner.publish.baseline import MAX_JOBS, MAX_PROBES
from runner.report.comment_body import MARKER
from tests.gitlab_emulator import GitLabEmulator, Pipeline
from tests.publish_helpers import BOT_TOKEN, Scene, make_scene
from tests.report_helpers import make_result

pytestmark = pytest.mark.integration
TRAIN = "notebooks/train.ipynb"
TRAIN_PATH = ".ds-runner/notebooks/train/metrics.json"
INFER_PATH = ".ds-runner/notebooks/infer/metrics.json"
SCORE_PATH = ".ds-runner/notebooks/score/metrics.json"


def metrics_file(notebook: str, **metrics: float) -> str:
    return json.dumps(make_result(notebook, metrics=metrics).to_dict())


@dataclass
class Main:
    """main's pipelines, oldest first: one that trained the notebook, one that ran another
    notebook, a schedule that scored, and the newest, failed one (its training job passed)."""

    trained: Pipeline
    other: Pipeline
    schedule: Pipeline
    failed: Pipeline
    train_job_id: int


def commit(n: int) -> str:
    return f"{n:02d}" * 20


def main_history(scene: Scene) -> Main:
    emu, pid = scene.emu, scene.project_id

    def pipeline(n: int, jobs: dict[str, dict[str, bytes | str]], *, status: str = "success",
                 source: str = "push") -> tuple[Pipeline, list[int]]:
        made = emu.add_pipeline(pid, ref="main", sha=commit(n), status=status, source=source)
        ids = [emu.add_job(pid, ref="main", name=name, sha=commit(n), pipeline=made,
                           status="success" if files else "failed", artifacts=files or None).id
               for name, files in jobs.items()]
        return made, ids

    trained, [train_job] = pipeline(1, {"execute-notebook": {
        TRAIN_PATH: metrics_file(TRAIN, auc=0.93, logloss=0.3)}})
    other, _ = pipeline(2, {"execute-notebook": {
        INFER_PATH: metrics_file("notebooks/infer.ipynb", rows=10)}})
    schedule, _ = pipeline(3, {"execute-scheduled": {
        SCORE_PATH: metrics_file("notebooks/score.ipynb", rows=5)}}, source="schedule")
    failed, _ = pipeline(4, {"execute-notebook": {
        TRAIN_PATH: metrics_file(TRAIN, auc=0.5, logloss=0.9)}, "auto-release": {}},
                         status="failed")
    return Main(trained, other, schedule, failed, train_job)


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys)
    s.pipeline(100, CI_MERGE_REQUEST_IID="1", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    return s


def note_body(scene: Scene) -> str:
    [note] = [n for n in scene.emu.notes(scene.project_id, 1) if MARKER in n.body]
    return note.body


def project_api(emu: GitLabEmulator, project_id: int) -> gl.v4.objects.Project:
    client = gl.Gitlab(emu.url, private_token=BOT_TOKEN)
    return client.projects.get(project_id, lazy=True)


def test_baseline_comes_from_the_newest_job_that_trained_the_notebook(scene: Scene) -> None:
    main = main_history(scene)
    scene.write(make_result(TRAIN, metrics={"auc": 0.97, "logloss": 0.21}, figure=False))
    code, out = scene.run("comment")
    assert code == 0, out
    body = note_body(scene)
    assert "| `auc` ↑ | 0.97 | 0.93 | ▲ +0.04" in body
    web = f"{scene.emu.url}/group/ds-example/-"
    assert (f"Baseline on `main`: commit [`{commit(1)[:8]}`]({web}/commit/{commit(1)}) · "
            f"[pipeline #{main.trained.id}]({web}/pipelines/{main.trained.id}) · "
            f"[job #{main.train_job_id}]({web}/jobs/{main.train_job_id})") in body
    assert "no baseline yet" not in body.split("production")[0]
    read = [int(r.path.split("/jobs/")[1].split("/")[0]) for r in scene.emu.requests
            if "/artifacts/" in r.path]        # the failed pipeline and the schedule: never
    assert [scene.emu.state.must_project(scene.project_id).jobs[j].pipeline_id
            for j in read] == [main.other.id, main.trained.id]


def test_artifacts_by_ref_reads_only_the_latest_successful_pipeline(scene: Scene) -> None:
    """GitLab's rule, which the comment works around: the schedule is the latest successful
    pipeline, so main's training job is not found by ref, and the failed pipeline's is not."""
    main_history(scene)
    project = project_api(scene.emu, scene.project_id)
    for job in ("execute-notebook", "execute:notebooks/train"):
        with pytest.raises(gl.GitlabGetError) as missing:
            project.artifacts.raw("main", TRAIN_PATH, job)
        assert missing.value.response_code == 404
    scored = json.loads(project.artifacts.raw("main", SCORE_PATH, "execute-scheduled"))
    assert scored["metrics"] == {"rows": 5}


def test_artifacts_by_ref_searches_the_latest_pipelines_children_never_a_child_alone(
        scene: Scene) -> None:
    emu, pid = scene.emu, scene.project_id
    parent = emu.add_pipeline(pid, ref="main", sha=commit(5))
    child = emu.add_child_pipeline(pid, parent)
    emu.add_job(pid, ref="main", name="execute:notebooks/train", pipeline=child,
                artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.9)})
    project = project_api(emu, pid)
    found = json.loads(project.artifacts.raw("main", TRAIN_PATH, "execute:notebooks/train"))
    assert found["metrics"] == {"auc": 0.9}
    # a newer child pipeline on its own (source parent_pipeline) is never "the latest"
    orphan = emu.add_pipeline(pid, ref="main", sha=commit(6), source="parent_pipeline")
    emu.add_job(pid, ref="main", name="execute:notebooks/train", pipeline=orphan,
                artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.1)})
    found = json.loads(project.artifacts.raw("main", TRAIN_PATH, "execute:notebooks/train"))
    assert found["metrics"] == {"auc": 0.9}


def test_parallel_mode_baseline_is_a_child_pipeline_job(scene: Scene) -> None:
    """main ran the notebook in a child pipeline (job ``execute:notebooks/train``); a newer
    pipeline ran other notebooks. The local run recorded no job name: the child job's name
    follows from the notebook's path."""
    emu, pid = scene.emu, scene.project_id
    parent = emu.add_pipeline(pid, ref="main", sha=commit(7))
    child = emu.add_child_pipeline(pid, parent)
    job = emu.add_job(pid, ref="main", name="execute:notebooks/train", pipeline=child,
                      artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.91)})
    newer = emu.add_pipeline(pid, ref="main", sha=commit(8))
    emu.add_job(pid, ref="main", name="execute:notebooks/infer",
                pipeline=emu.add_child_pipeline(pid, newer),
                artifacts={INFER_PATH: metrics_file("notebooks/infer.ipynb", rows=1)})
    scene.write(make_result(TRAIN, metrics={"auc": 0.97}, figure=False))
    code, out = scene.run("comment")
    assert code == 0, out
    body = note_body(scene)
    assert "| `auc` ↑ | 0.97 | 0.91 | ▲ +0.06" in body
    assert f"[pipeline #{child.id}](" in body and f"[job #{job.id}](" in body
    assert f"commit [`{commit(7)[:8]}`]" in body


def test_search_stops_at_the_job_bound_and_says_so(scene: Scene) -> None:
    emu, pid = scene.emu, scene.project_id
    emu.add_job(pid, ref="main", name="execute-notebook", sha=commit(1),
                artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.93)})
    busy = emu.add_pipeline(pid, ref="feat", sha=commit(2))
    for i in range(MAX_JOBS + 5):                  # newer jobs on another branch
        emu.add_job(pid, ref="feat", name=f"lint-{i}", pipeline=busy)
    scene.write(make_result(TRAIN, metrics={"auc": 0.97}, figure=False))
    code, out = scene.run("comment")
    assert code == 0, out
    body = note_body(scene)
    assert (f"Baseline on `main`: no baseline yet (searched {MAX_JOBS} jobs for `main`); "
            f"the search stops after the newest {MAX_JOBS} successful jobs") in body
    pages = [r for r in emu.requests if r.path == f"/api/v4/projects/{pid}/jobs"]
    assert len(pages) == MAX_JOBS // 100
    assert (f"no baseline {TRAIN_PATH} on main: looked at {MAX_JOBS} successful jobs (newest "
            "first) for execute-notebook or execute:notebooks/train and tried 0 artifact "
            "files") in out


def test_search_stops_after_so_many_jobs_without_the_file(scene: Scene) -> None:
    emu, pid = scene.emu, scene.project_id
    emu.add_job(pid, ref="main", name="execute-notebook", sha=commit(1),
                artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.93)})
    for _ in range(MAX_PROBES + 3):               # newer runs of other notebooks
        emu.add_job(pid, ref="main", name="execute-notebook", sha=commit(2),
                    artifacts={INFER_PATH: metrics_file("notebooks/infer.ipynb", rows=1)})
    scene.write(make_result(TRAIN, metrics={"auc": 0.97}, figure=False))
    code, out = scene.run("comment")
    assert code == 0, out
    assert f"the search stops after {MAX_PROBES} jobs without the file" in note_body(scene)
    probes = [r for r in emu.requests if r.path.endswith(f"/artifacts/{TRAIN_PATH}")]
    assert len(probes) == MAX_PROBES


def test_jobs_list_has_gitlabs_shape_filter_and_pages(scene: Scene) -> None:
    main = main_history(scene)
    project = project_api(scene.emu, scene.project_id)
    first = project.jobs.list(scope=["success"], per_page=2, page=1)
    assert [j.id for j in first] == sorted((j.id for j in first), reverse=True)
    job = first[0].attributes
    assert {"id", "name", "ref", "tag", "status", "stage", "web_url", "commit", "pipeline",
            "artifacts", "artifacts_file"} <= set(job)
    assert {"id", "sha", "ref", "status", "source", "web_url"} <= set(job["pipeline"])
    every = project.jobs.list(scope=["success"], iterator=True, per_page=2)
    listed = [j.attributes for j in every]
    assert every.total is None and every.total_pages is None      # `without_count`
    assert {j["pipeline"]["id"] for j in listed} >= {main.trained.id, main.failed.id}
    assert all(j["status"] == "success" for j in listed)
    failed = project.jobs.list(scope=["failed"], get_all=True)
    assert [(j.name, j.pipeline["id"]) for j in failed] == [("auto-release", main.failed.id)]
    with pytest.raises(gl.GitlabListError) as bad:
        project.jobs.list(scope=["finished"], get_all=True)
    assert bad.value.response_code == 400
    raw = project.jobs.get(main.train_job_id, lazy=True).artifact(TRAIN_PATH)
    assert json.loads(raw)["metrics"]["auc"] == 0.93
    with pytest.raises(gl.GitlabGetError) as absent:
        project.jobs.get(main.train_job_id, lazy=True).artifact(INFER_PATH)
    assert absent.value.response_code == 404


def test_a_token_that_may_not_list_jobs_falls_back_to_the_latest_pipeline(scene: Scene) -> None:
    emu, pid = scene.emu, scene.project_id
    emu.add_job(pid, ref="main", name="execute-notebook", sha=commit(1),
                artifacts={TRAIN_PATH: metrics_file(TRAIN, auc=0.93)})
    denied = emu.faults.add(rf"/projects/{pid}/jobs$", status=403, times=None,
                            body='{"message": "403 Forbidden"}')
    scene.write(make_result(TRAIN, metrics={"auc": 0.97}, figure=False))
    code, out = scene.run("comment")
    assert code == 0, out
    assert denied.hits == 1
    body = note_body(scene)
    assert "| `auc` ↑ | 0.97 | 0.93 |" in body
    assert "Baseline on `main`: latest successful pipeline, job execute-notebook" in body
