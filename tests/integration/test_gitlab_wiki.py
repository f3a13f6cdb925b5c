"""``ds-runner wiki`` against the GitLab emulator, through the real python-gitlab client."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from runner.publish import publish
from runner.publish.ci import CiEnv
from runner.publish.options import show
from runner.publish.wiki import WikiSink
from runner.report.wiki_pages import parse_rows
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import BOT_TOKEN, SHA, Scene, make_scene
from tests.report_helpers import make_result

pytestmark = pytest.mark.integration
PAGE = "ds-pipeline/notebooks/train"
INDEX = "ds-pipeline/index"


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.write()
    return s


def rows(scene: Scene, slug: str = PAGE) -> list[str]:
    page = scene.emu.wiki_page(scene.project_id, slug)
    assert page is not None, f"no wiki page {slug}"
    return [r.key for r in parse_rows(page.content)]


def env_for(scene: Scene, pipeline: int) -> CiEnv:
    web = f"{scene.emu.url}/group/ds-example/-"
    return CiEnv(server_url=scene.emu.url, project=str(scene.project_id),
                 project_path="group/ds-example", pipeline_id=str(pipeline),
                 pipeline_url=f"{web}/pipelines/{pipeline}", job_url=f"{web}/jobs/{pipeline}0",
                 commit_sha=SHA, token=BOT_TOKEN)


def publish_wiki(env: CiEnv, results: Path, **options: Any) -> int:
    """What ``ds-runner wiki`` calls, its outcome shown (and its error raised) as it shows it."""
    return show(publish(WikiSink(env, **options), results))


def test_first_run_creates_page_and_index(scene: Scene) -> None:
    code, out = scene.run("wiki")
    assert code == 0, out
    page = scene.emu.wiki_page(scene.project_id, PAGE)
    assert page is not None
    assert "| 2026-11-22 10:00:00 <!-- ds-run:2026-11-22 10:00:00;100 --> | " \
           f"[#100]({scene.emu.url}/group/ds-example/-/pipelines/100) | " in page.content
    assert "✅ success | auc 0.97, logloss 0.21 |" in page.content
    index = scene.emu.wiki_page(scene.project_id, INDEX)
    assert index is not None
    assert f"[`notebooks/train.ipynb`]({scene.emu.url}/group/ds-example/-/wikis/{PAGE})" \
        in index.content
    assert "wrote wiki page ds-pipeline/notebooks/train" in out


def test_tenth_run_keeps_all_rows_newest_first(scene: Scene) -> None:
    for i in range(10):
        scene.write(make_result(started_at=f"2026-11-{10 + i:02d}T10:00:00Z"))
        assert publish_wiki(env_for(scene, 100 + i), scene.results, settle_s=0.01) == 0
    keys = rows(scene)
    assert len(keys) == 10 and keys == sorted(keys, reverse=True)
    assert keys[0].startswith("2026-11-19") and keys[-1].startswith("2026-11-10")
    assert len(rows(scene, INDEX)) == 1
    # a retried wiki job (same pipeline and results, new job) adds nothing
    retry = env_for(scene, 109)
    retry.job_url += "99"
    assert publish_wiki(retry, scene.results, settle_s=0.01) == 0
    assert len(rows(scene)) == 10


def test_rows_beyond_the_bound_move_to_the_archive(scene: Scene) -> None:
    for i in range(12):
        scene.write(make_result(started_at=f"2026-11-{10 + i:02d}T10:00:00Z"))
        publish_wiki(env_for(scene, 200 + i), scene.results, max_rows=10, settle_s=0.01)
    kept, archived = rows(scene), rows(scene, "ds-pipeline/archive/notebooks/train")
    assert len(kept) == 10 and len(archived) == 2
    assert set(kept).isdisjoint(archived) and max(archived) < min(kept)


def test_two_concurrent_writers_lose_no_row(scene: Scene) -> None:
    # Slow writes: every writer reads the page (missing, then stale) while another one's
    # create or update is still in flight, so creates collide (400) and updates get lost.
    scene.emu.faults.add(r"/wikis$", method="POST", delay=0.4, times=None)
    scene.emu.faults.add(r"/wikis/", method="PUT", delay=0.3, times=None)
    errors: list[BaseException] = []

    def write(pipeline: int) -> None:
        try:
            publish_wiki(env_for(scene, pipeline), scene.results, settle_s=1.0)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=write, args=(p,)) for p in (301, 302, 303)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(k.split(";")[1] for k in rows(scene)) == ["301", "302", "303"]
    assert len(rows(scene, INDEX)) == 1
    creates = [r for r in scene.emu.requests if r.method == "POST" and r.path.endswith("/wikis")]
    assert any(r.status == 400 for r in creates)       # a duplicate create was retried


def test_job_token_only_is_a_clear_error(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITLAB_TOKEN")
    monkeypatch.setenv("CI_JOB_TOKEN", "job-token-123456")
    code, out = scene.run("wiki")
    assert code == 10  # MissingTokenError: the components let it pass with a warning
    assert "GITLAB_TOKEN is not set" in out and "CI_JOB_TOKEN for the wiki API" in out
    assert scene.emu.requests == [] and scene.emu.wiki_pages(scene.project_id) == []


def test_dry_run_sends_nothing(scene: Scene) -> None:
    code, out = scene.run("wiki", "--dry-run")
    assert code == 0, out
    assert scene.writes() == [] and scene.emu.wiki_pages(scene.project_id) == []
    assert '[dry-run] POST /projects/1/wikis\n{\n  "title": "ds-pipeline/notebooks/train"' in out


def test_502_storm_is_survived(scene: Scene) -> None:
    fault = scene.emu.faults.add(r"/wikis", method="PUT", status=502, times=3)
    scene.emu.add_wiki_page(scene.project_id, PAGE, "old content without rows")
    code, out = scene.run("wiki")
    assert code == 0, out
    assert fault.hits == 3 and len(rows(scene)) == 1
