"""A slow GitLab never leaves duplicates: a create whose answer comes after the client gave up
still happens on GitLab, so ds-runner looks for it before posting again.

The emulator's `delay` fault writes after the delay, its `hold` fault writes first and answers
late; either way the write happens although the client has gone (tests/gitlab_emulator/faults.py).
The client timeout is 1 s here (DS_GITLAB_TIMEOUT), so each test takes a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.gitlab_client import GitLabClient
from runner.report.comment_body import MARKER
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import BOT_TOKEN, SHA, Scene, make_scene

pytestmark = pytest.mark.integration
SLOW = 1.5          # seconds: longer than the client's timeout, shorter than its look-again


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys)
    s.monkeypatch.setenv("DS_GITLAB_TIMEOUT", "1")
    s.write()
    return s


def posts(scene: Scene, suffix: str) -> list[str]:
    return [r.path for r in scene.emu.requests if r.method == "POST" and r.path.endswith(suffix)]


def test_note_posted_once_when_the_first_post_is_slow(scene: Scene) -> None:
    scene.pipeline(100, CI_MERGE_REQUEST_IID="1", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    fault = scene.emu.faults.add(r"/merge_requests/1/notes$", method="POST", delay=SLOW)
    code, out = scene.run("comment")
    assert code == 0, out
    assert fault.hits == 1 and "create merge request note failed (ReadTimeout)" in out
    assert len([n for n in scene.emu.notes(scene.project_id, 1) if MARKER in n.body]) == 1
    assert len(posts(scene, "/notes")) == 1
    code, out = scene.run("comment")          # the next run updates that one note
    assert code == 0, out
    assert len([n for n in scene.emu.notes(scene.project_id, 1) if MARKER in n.body]) == 1


def test_wiki_page_posted_once_when_the_first_post_is_slow(scene: Scene) -> None:
    fault = scene.emu.faults.add(r"/wikis$", method="POST", delay=SLOW)
    code, out = scene.run("wiki")
    assert code == 0, out
    assert fault.hits == 1 and "create wiki page failed (ReadTimeout)" in out
    slugs = [p.slug for p in scene.emu.wiki_pages(scene.project_id)]
    assert slugs == ["ds-pipeline/index", "ds-pipeline/notebooks/train"]
    assert len(posts(scene, "/wikis")) == len(slugs)      # found again, not posted twice
    assert "was created concurrently" not in out


def test_release_posted_once_when_its_answer_is_late(scene: Scene) -> None:
    scene.pipeline(500, CI_COMMIT_TAG="v1.0.0")
    fault = scene.emu.faults.add(r"/releases$", method="POST", hold=SLOW)
    code, out = scene.run("release")
    assert code == 0, out
    assert fault.hits == 1 and "created release v1.0.0" in out
    assert "create release failed (ReadTimeout) but GitLab made it anyway" in out
    assert len(scene.emu.releases(scene.project_id)) == 1
    assert len(posts(scene, "/releases")) == 1


def test_release_link_posted_once_when_its_answer_is_late(scene: Scene) -> None:
    scene.pipeline(500, CI_COMMIT_TAG="v1.0.0")
    scene.emu.add_release(scene.project_id, "v1.0.0", ref=SHA, description="made by hand")
    fault = scene.emu.faults.add(r"/assets/links$", method="POST", hold=SLOW)
    code, out = scene.run("release")
    assert code == 0, out
    assert fault.hits == 1 and "updated existing release v1.0.0" in out
    assert "create release link failed (ReadTimeout) but GitLab made it anyway" in out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and len(rel.links) == 1
    assert len(posts(scene, "/assets/links")) == 1


@pytest.mark.parametrize(("what", "path", "kind"), [
    ("note", r"/notes$", "delay"), ("wiki", r"/wikis$", "delay"),
    ("release", r"/releases$", "hold"), ("link", r"/assets/links$", "delay")])
def test_each_create_happens_once_through_the_client(scene: Scene, what: str, path: str,
                                                     kind: str) -> None:
    """GitLabClient itself, with a 1 s timeout given to it: one object, one POST."""
    emu, pid = scene.emu, scene.project_id
    if what == "link":
        emu.add_release(pid, "v1.0.0", ref=SHA)
    client = GitLabClient(emu.url, pid, private_token=BOT_TOKEN, timeout=1.0)
    fault = emu.faults.add(path, method="POST", **{kind: SLOW})
    if what == "note":
        client.create_mr_note(1, f"{MARKER}\nhello")      # found again by its body
    elif what == "wiki":
        assert client.wiki_create("ds-pipeline/index", "hello") is True
    elif what == "release":
        assert client.release_create("v1.0.0", "v1.0.0", "notes", SHA, []) is True
    else:
        client.release_link_create("v1.0.0", {"name": "m", "url": "https://x.example/m"})
    time.sleep(SLOW)                # a late first request would have landed by now
    rel = emu.release(pid, "v1.0.0")
    made = {"note": [n for n in emu.notes(pid, 1) if MARKER in n.body],
            "wiki": emu.wiki_pages(pid), "release": emu.releases(pid),
            "link": rel.links if rel else []}[what]
    assert fault.hits == 1 and len(made) == 1
    assert len([r for r in emu.requests if r.method == "POST"]) == 1
