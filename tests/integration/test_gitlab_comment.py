"""``ds-runner comment`` against the GitLab emulator, through the real python-gitlab client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.metrics import CellError
from runner.report.comment_body import MARKER, parse_history
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import BOT_TOKEN, MAIN_SHA, SHA, Scene, make_scene, release_description
from tests.report_helpers import make_result

pytestmark = pytest.mark.integration


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys)
    s.pipeline(100, CI_MERGE_REQUEST_IID="1", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    s.write()
    return s


def ours(scene: Scene) -> list[object]:
    return [n for n in scene.emu.notes(scene.project_id, 1) if MARKER in n.body]


def test_first_comment_creates_one_note_with_upload(scene: Scene) -> None:
    code, out = scene.run("comment")
    assert code == 0, out
    [note] = ours(scene)
    assert note.author_id == scene.bot_id
    [upload] = scene.emu.uploads(scene.project_id)
    assert upload.filename == "roc.png"
    assert f"![roc](/uploads/{upload.secret}/roc.png)" in note.body
    assert note.body.count("no baseline yet") == 5    # two metrics x two baselines + origin
    assert "Baseline on `main`: no baseline yet (searched 0 jobs for `main`)" in note.body
    assert f"({scene.emu.url}/group/ds-example/-/jobs/1000/artifacts/file/" \
           ".ds-runner/notebooks/train/train.ipynb)" in note.body
    assert "created note" in out and BOT_TOKEN not in out


def test_second_pipeline_updates_the_same_note(scene: Scene) -> None:
    assert scene.run("comment")[0] == 0
    [first] = ours(scene)
    scene.pipeline(101)
    scene.write(make_result(metrics={"auc": 0.99, "logloss": 0.2}))
    code, out = scene.run("comment")
    assert code == 0, out
    [second] = ours(scene)
    assert second.id == first.id and "updated note" in out
    assert "History: 1 earlier pipeline" in second.body
    assert [e["pipeline_id"] for e in parse_history(second.body)] == ["101", "100"]
    assert [r.method for r in scene.writes()].count("PUT") == 1


def test_finds_own_note_behind_150_others_and_short_pages(scene: Scene) -> None:
    emu = scene.emu
    mine = emu.add_note(scene.project_id, 1, f"{MARKER}\nold", author="ds-bot")
    for i in range(150):
        emu.add_note(scene.project_id, 1, f"comment {i}", author="alice",
                     visible_to=["alice"] if i % 7 == 0 else None)   # short pages for ds-bot
        if i % 50 == 0:
            emu.add_note(scene.project_id, 1, "added 1 commit", author="alice", system=True)
    code, out = scene.run("comment")
    assert code == 0, out
    [note] = ours(scene)
    assert note.id == mine.id and "Notebook results" in note.body
    pages = [r for r in emu.requests if r.method == "GET" and r.path.endswith("/notes")]
    assert len(pages) >= 2


def test_other_users_marked_note_is_left_alone(scene: Scene) -> None:
    theirs = scene.emu.add_note(scene.project_id, 1, f"{MARKER}\nquoted by alice",
                                author="alice")
    assert scene.run("comment")[0] == 0
    notes = ours(scene)
    assert len(notes) == 2
    assert next(n for n in notes if n.id == theirs.id).body.endswith("quoted by alice")
    assert not [r for r in scene.writes() if r.path.endswith(f"/notes/{theirs.id}")]


def test_with_target_and_production_baselines(scene: Scene) -> None:
    scene.add_baseline("main", {"auc": 0.95, "logloss": 0.25})
    scene.emu.add_release(scene.project_id, "v0.9.0", ref=SHA,
                          description=release_description("v0.9.0", {"auc": 0.98}))
    scene.emu.add_release(scene.project_id, "dev-2.0.0", ref=SHA,
                          description=release_description("dev-2.0.0", {"auc": 0.5}))
    assert scene.run("comment")[0] == 0
    [note] = ours(scene)
    assert "| `auc` ↑ | 0.97 | 0.95 | ▲ +0.02 (+2.1%) 🟢 better | 0.98 | ▼ -0.01 (-1.0%) 🔴 " \
           "worse |" in note.body
    assert "| `logloss` ↓ | 0.21 | 0.25 | ▼ -0.04 (-16.0%) 🟢 better | — | — |" in note.body
    assert "production release `v0.9.0`" in note.body
    assert "| no_regression | `auc` | 0.97 | 0.9702 | ❌ fail |" in note.body


def test_parallel_mode_baseline_comes_from_the_child_job(scene: Scene) -> None:
    """A notebook run in a child-pipeline job finds its baseline under that job's name."""
    child_job = "execute:notebooks/train"
    scene.write(make_result(metrics={"auc": 0.97}, figure=False,
                            info={"job_name": child_job}))
    result = make_result(metrics={"auc": 0.9})
    scene.emu.add_job(scene.project_id, ref="main", name=child_job, sha=MAIN_SHA,
                      artifacts={".ds-runner/notebooks/train/metrics.json":
                                 json.dumps(result.to_dict())})
    assert scene.run("comment")[0] == 0
    [note] = ours(scene)
    assert "| `auc` ↑ | 0.97 | 0.9 | ▲ +0.07" in note.body


def test_failed_notebook(scene: Scene) -> None:
    scene.write(make_result(status="failed", metrics={"auc": 0.5}, figure=False,
                            error=CellError(3, "KeyError", "'label'")))
    assert scene.run("comment")[0] == 0
    [note] = ours(scene)
    assert "<summary>Failed in cell 3: <code>KeyError</code></summary>" in note.body
    assert "KeyError: 'label'" in note.body and "❌ 1 of 1 notebooks failed" in note.body


def test_branch_pipeline_finds_the_open_mr_of_the_commit(scene: Scene,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    monkeypatch.delenv("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    scene.add_baseline("main", {"auc": 0.9})
    assert scene.run("comment")[0] == 0
    [note] = ours(scene)
    assert "| `auc` ↑ | 0.97 | 0.9 |" in note.body


def test_no_merge_request_says_so(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    monkeypatch.setenv("CI_COMMIT_SHA", "c3" * 20)
    code, out = scene.run("comment")
    assert code == 0 and "no open merge request for commit c3c3c3c3" in out, out
    assert scene.writes() == []


def test_job_token_only_is_a_clear_error(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token-123456")
    code, out = scene.run("comment")
    assert code == 10  # MissingTokenError: the components let it pass with a warning
    assert "GITLAB_TOKEN is not set" in out and "CI_JOB_TOKEN" in out and "api scope" in out
    assert len(out.strip().splitlines()) == 1 and "job-token-123456" not in out
    assert scene.emu.requests == []


def test_dry_run_sends_nothing(scene: Scene) -> None:
    code, out = scene.run("comment", "--dry-run")
    assert code == 0, out
    assert scene.writes() == [] and ours(scene) == []
    assert "[dry-run] POST /projects/1/uploads" in out
    assert "[dry-run] POST /projects/1/merge_requests/1/notes" in out and MARKER in out


def test_429_and_502_storms_are_survived(scene: Scene) -> None:
    faults = scene.emu.faults
    f429 = faults.add(r"/merge_requests/1/notes$", method="POST", status=429, retry_after=1,
                      times=2)
    f502 = faults.add(r"/merge_requests/1/notes$", method="GET", status=502, times=3)
    reset = faults.add(r"/uploads$", method="POST", reset=True, times=1)
    up429 = faults.add(r"/uploads$", method="POST", status=429, retry_after=1, times=1)
    code, out = scene.run("comment")
    assert code == 0, out
    assert (f429.hits, f502.hits, reset.hits, up429.hits) == (2, 3, 1, 1)
    assert len(scene.emu.uploads(scene.project_id)) == 1
    assert len(ours(scene)) == 1


def test_endless_502_fails_with_exit_5_and_rerun_repairs(scene: Scene) -> None:
    fault = scene.emu.faults.add(r"/merge_requests/1/notes$", method="POST", status=502,
                                 times=None)
    code, out = scene.run("comment")
    assert code == 5
    assert "create merge request note: 502" in out and "gave up after retries" in out
    assert fault.hits == 5                       # first try + DS_GITLAB_MAX_RETRIES=4
    scene.emu.faults.clear()
    assert scene.run("comment")[0] == 0
    assert len(ours(scene)) == 1
