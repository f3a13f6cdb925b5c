"""The GitLab API emulator, driven through the real python-gitlab client and plain requests."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import gitlab as gl
import pytest
import requests

from tests.gitlab_emulator import GitLabEmulator, MergeRequest, Project, User

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    emu: GitLabEmulator
    bot: User
    alice: User
    project: Project
    mr: MergeRequest

    def client(self, token: str = "glpat-bot", **kwargs: object) -> gl.Gitlab:
        return gl.Gitlab(self.emu.url, private_token=token, **kwargs)  # type: ignore[arg-type]

    def api(self, path: str) -> str:
        return f"{self.emu.api_url}/projects/{self.project.id}{path}"


@pytest.fixture
def world(emulator: GitLabEmulator) -> World:
    bot = emulator.add_user("ds-bot", token="glpat-bot")
    alice = emulator.add_user("alice", token="glpat-alice")
    project = emulator.add_project("group/ds-example")
    mr = emulator.add_merge_request(project.id, iid=1, source_branch="feat", sha="a" * 40,
                                    author=alice)
    return World(emulator, bot, alice, project, mr)


def notes_of(w: World, client: gl.Gitlab | None = None):  # type: ignore[no-untyped-def]
    project = (client or w.client()).projects.get(w.project.id, lazy=True)
    return project.mergerequests.get(w.mr.iid, lazy=True).notes


def test_150_notes_paginate_newest_first_with_gitlab_headers(world: World) -> None:
    for i in range(150):
        when = f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z"
        world.emu.add_note(world.project.id, 1, f"note {i}", author=world.alice,
                           system=i % 50 == 0, created_at=when)
    listing = notes_of(world).list(iterator=True)
    bodies = [n.body for n in listing]
    assert listing.total == 150 and len(bodies) == 150 and len(set(bodies)) == 150
    assert bodies[0] == "note 149" and bodies[-1] == "note 0"
    assert sum(1 for r in world.emu.requests if r.path.endswith("/notes")) == 8  # 150 / 20

    r = requests.get(world.api("/merge_requests/1/notes"), params={"per_page": 100, "page": 2},
                     headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert r.headers["x-page"] == "2" and r.headers["x-prev-page"] == "1"
    assert r.headers["x-next-page"] == "" and r.headers["x-total-pages"] == "2"
    assert 'rel="prev"' in r.headers["Link"] and 'rel="next"' not in r.headers["Link"]
    assert len(r.json()) == 50 and r.json()[0]["noteable_type"] == "MergeRequest"
    asc = notes_of(world).list(sort="asc", per_page=100, get_all=True)
    assert asc[0].body == "note 0" and asc[0].system is True


def test_unreadable_notes_make_short_pages_but_next_link_continues(world: World) -> None:
    for i in range(30):
        world.emu.add_note(world.project.id, 1, f"n{i}", author=world.alice,
                           visible_to=[] if i % 3 == 0 else None)
    first = requests.get(world.api("/merge_requests/1/notes"), params={"per_page": 10},
                         headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert len(first.json()) < 10 and first.headers["x-next-page"] == "2"
    assert len(list(notes_of(world).list(iterator=True, per_page=10))) == 20
    assert len(notes_of(world, world.client("glpat-alice")).list(get_all=True)) == 30


def test_note_create_update_rules(world: World) -> None:
    notes = notes_of(world)
    note = notes.create({"body": "<!-- marker -->\nfirst"})
    assert note.author["username"] == "ds-bot" and note.system is False
    notes.update(note.id, {"body": "<!-- marker -->\nsecond"})
    assert world.emu.notes(world.project.id, 1)[0].body.endswith("second")
    theirs = world.emu.add_note(world.project.id, 1, "<!-- marker -->", author=world.alice)
    with pytest.raises(gl.GitlabUpdateError) as denied:
        notes.update(theirs.id, {"body": "mine now"})
    assert denied.value.response_code == 403
    with pytest.raises(gl.GitlabHttpError) as too_long:
        world.client().http_post(f"/projects/{world.project.id}/merge_requests/1/notes",
                                 post_data={"body": "x" * 1_000_001})
    assert too_long.value.response_code == 400
    r = requests.post(world.api("/merge_requests/1/notes"), json={},
                      headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": "body is missing"})
    notes.delete(note.id)
    assert [n.id for n in world.emu.notes(world.project.id, 1)] == [theirs.id]


def test_current_user_project_and_merge_requests_of_a_commit(world: World) -> None:
    client = world.client()
    client.auth()
    assert client.user is not None and client.user.username == "ds-bot"
    project = client.projects.get("group/ds-example")
    assert project.id == world.project.id and project.web_url.endswith("/group/ds-example")
    mrs = project.commits.get("a" * 40, lazy=True).merge_requests()
    assert [m["iid"] for m in mrs] == [1]
    assert project.mergerequests.list(source_branch="other", get_all=True) == []
    assert project.branches.get("feat").commit["id"] == "a" * 40
    assert project.commits.get("feat").short_id == "a" * 8
    with pytest.raises(gl.GitlabGetError) as no_branch:
        project.branches.get("nope")
    assert no_branch.value.error_message == "404 Branch Not Found"
    with pytest.raises(gl.GitlabAuthenticationError):
        world.client("glpat-wrong").auth()


def test_wiki_slugs_duplicates_nested_encoding_and_rename(world: World) -> None:
    wikis = world.client().projects.get(world.project.id, lazy=True).wikis
    page = wikis.create({"title": "ds-runs/Churn Model", "content": "| run |"})
    assert (page.slug, page.title) == ("ds-runs/Churn-Model", "Churn Model")
    with pytest.raises(gl.GitlabCreateError) as dup:
        wikis.create({"title": "ds-runs/churn model", "content": "again"})
    assert dup.value.response_code == 400
    assert json.loads(dup.value.response_body or b"{}") == {
        "message": {"base": ["Duplicate page: A page with that title already exists"]}}
    assert wikis.get("ds-runs/Churn-Model").content == "| run |"
    raw = requests.get(world.api("/wikis/ds-runs/Churn-Model"),
                       headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert raw.status_code == 404  # an unencoded slash does not match the route
    assert wikis.create({"title": "/a/../b c", "content": "x"}).slug == "b-c"
    wikis.update("ds-runs/Churn-Model", {"title": "Renamed", "content": "v2"})
    assert world.emu.wiki_page(world.project.id, "ds-runs/Renamed") is not None
    listed = wikis.list(with_content=True, get_all=True)
    assert {p.slug: p.content for p in listed} == {"b-c": "x", "ds-runs/Renamed": "v2"}
    with pytest.raises(gl.GitlabGetError) as gone:
        wikis.get("nope")
    assert gone.value.error_message == "404 Wiki Page Not Found"


def test_releases_409_422_links_and_tags(world: World) -> None:
    project = world.client().projects.get(world.project.id, lazy=True)
    with pytest.raises(gl.GitlabCreateError) as no_ref:
        project.releases.create({"tag_name": "v1.0.0"})
    assert (no_ref.value.response_code, no_ref.value.error_message) == (422, "Ref is not specified")
    release = project.releases.create({
        "tag_name": "v1.0.0", "ref": "main", "description": "card",
        "assets": {"links": [{"name": "model", "url": "https://x/model.bin",
                              "direct_asset_path": "/model.bin", "link_type": "package"}]}})
    assert release.assets["links"][0]["direct_asset_url"].endswith(
        "/-/releases/v1.0.0/downloads/model.bin")
    with pytest.raises(gl.GitlabCreateError) as again:
        project.releases.create({"tag_name": "v1.0.0", "ref": "main"})
    assert (again.value.response_code, again.value.error_message) == (409, "Release already exists")
    project.releases.update("v1.0.0", {"description": "card v2"})
    assert world.emu.release(world.project.id, "v1.0.0").description == "card v2"  # type: ignore[union-attr]
    links = project.releases.get("v1.0.0").links
    for bad, message in (({"name": "model", "url": "https://x/other"},
                           ["Name has already been taken"]),
                          ({"name": "n", "url": "file:///etc"},
                           ["Url is blocked: Only allowed schemes are http, https, ftp"])):
        with pytest.raises(gl.GitlabCreateError) as invalid:
            links.create(bad)
        assert invalid.value.response_code == 400
        assert json.loads(invalid.value.response_body or b"{}") == {"message": message}
    links.create({"name": "image", "url": "https://registry/img:1", "link_type": "image"})
    assert [lk.name for lk in links.list(get_all=True)] == ["image", "model"]  # newest first
    with pytest.raises(gl.GitlabGetError) as missing:
        project.releases.get("v9.9.9")
    assert missing.value.error_message == "404 Not Found"
    assert [t.name for t in project.tags.list(search="^v1", get_all=True)] == ["v1.0.0"]
    assert project.tags.list(search="0$", get_all=True)[0].release["description"] == "card v2"
    with pytest.raises(gl.GitlabCreateError) as dup_tag:
        project.tags.create({"tag_name": "v1.0.0", "ref": "main"})
    assert dup_tag.value.error_message == "Tag v1.0.0 already exists"
    with pytest.raises(gl.GitlabCreateError) as bad_target:
        project.tags.create({"tag_name": "v2", "ref": "nope"})
    assert bad_target.value.error_message == "Target nope is invalid"


def test_releases_list_by_released_at_desc(world: World) -> None:
    for tag, when in (("v0.8.0", "2024-01-01T00:00:00Z"), ("v0.9.0", "2024-06-01T00:00:00Z"),
                      ("v0.7.0", "2023-01-01T00:00:00Z")):
        world.emu.add_release(world.project.id, tag, ref="main", released_at=when)
    releases = world.client().projects.get(world.project.id, lazy=True).releases
    assert [r.tag_name for r in releases.list(get_all=True)] == ["v0.9.0", "v0.8.0", "v0.7.0"]


def test_job_token_rules(world: World) -> None:
    running = world.emu.add_job(world.project.id, ref="main", name="publish", status="running",
                                user=world.bot)
    job_client = gl.Gitlab(world.emu.url, job_token=world.emu.job_token(running))
    project = job_client.projects.get(world.project.id, lazy=True)
    world.emu.add_note(world.project.id, 1, "hi", author=world.alice)
    assert [n.body for n in notes_of(world, job_client).list(get_all=True)] == ["hi"]
    with pytest.raises(gl.GitlabAuthenticationError) as note:  # the route ignores job tokens
        notes_of(world, job_client).create({"body": "x"})
    assert note.value.response_code == 401
    with pytest.raises(gl.GitlabListError) as wiki:
        project.wikis.list(get_all=True)
    assert (wiki.value.response_code, wiki.value.error_message) == (404, "404 Project Not Found")
    with pytest.raises(gl.GitlabAuthenticationError):
        job_client.auth()
    assert project.releases.create({"tag_name": "v2.0.0", "ref": "main"}).tag_name == "v2.0.0"
    assert [r.auth for r in world.emu.requests][-1] == "job_token"
    world.emu.set_job_status(running, "success")
    with pytest.raises(gl.GitlabAuthenticationError):
        project.releases.list(get_all=True)


def test_429_with_retry_after_is_retried_by_python_gitlab(world: World) -> None:
    fault = world.emu.faults.add(r"/notes$", status=429, retry_after=0, times=3)
    raw = requests.get(world.api("/merge_requests/1/notes"),
                       headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert (raw.status_code, raw.text) == (429, "Retry later\n")
    assert raw.headers["Retry-After"] == "0" and raw.headers["RateLimit-Remaining"] == "0"
    assert notes_of(world).list(get_all=True) == []
    assert fault.hits == 3
    assert [r.status for r in world.emu.requests if r.path.endswith("/notes")] == [
        429, 429, 429, 200]


def test_429_of_an_application_limit_has_no_retry_after(world: World) -> None:
    world.emu.faults.add(r"/notes$", method="POST", status=429, retry_after=None, times=2)
    raw = requests.post(world.api("/merge_requests/1/notes"), json={"body": "x"},
                        headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
    assert "Retry-After" not in raw.headers and "RateLimit-Reset" not in raw.headers
    assert raw.json()["message"]["error"].startswith("This endpoint has been requested")
    assert notes_of(world).create({"body": "y"}).body == "y"  # python-gitlab backs off itself
    assert [n.body for n in world.emu.notes(world.project.id, 1)] == ["y"]


def test_502_burst_needs_retry_transient_errors(world: World) -> None:
    world.emu.faults.add("/releases", status=502, times=2)
    with pytest.raises(gl.GitlabListError) as failed:
        world.client().projects.get(world.project.id, lazy=True).releases.list(get_all=True)
    assert failed.value.response_code == 502 and "Bad Gateway" in str(failed.value.error_message)
    retrying = world.client(retry_transient_errors=True)
    assert retrying.projects.get(world.project.id, lazy=True).releases.list(get_all=True) == []


def test_connection_reset_and_slow_answers(world: World) -> None:
    world.emu.faults.add("/user", reset=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{world.emu.api_url}/user", headers={"PRIVATE-TOKEN": "glpat-bot"},
                     timeout=5)
    world.emu.faults.add("/user", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{world.emu.api_url}/user", headers={"PRIVATE-TOKEN": "glpat-bot"},
                     timeout=0.2)
    world.emu.faults.add("/user", reset=True)
    client = world.client(retry_transient_errors=True)
    client.auth()
    assert client.user is not None and client.user.username == "ds-bot"


def test_uploads_are_served_back(world: World) -> None:
    project = world.client().projects.get(world.project.id, lazy=True)
    uploaded = project.upload("auc curve.png", filedata=b"\x89PNG-bytes")
    assert uploaded["url"].startswith("/uploads/") and uploaded["markdown"].startswith("![")
    served = requests.get(world.emu.url + uploaded["full_path"], timeout=5)
    assert served.content == b"\x89PNG-bytes" and served.headers["Content-Type"] == "image/png"
    by_path = requests.get(f"{world.project.web_url}{uploaded['url']}", timeout=5)
    assert by_path.status_code == 200
    assert world.emu.uploads(world.project.id)[0].filename == "auc_curve.png"
    assert uploaded["url"].endswith("/auc_curve.png")


def test_artifacts_by_ref_come_from_the_latest_successful_pipeline(world: World) -> None:
    project = world.client().projects.get(world.project.id, lazy=True)
    with pytest.raises(gl.GitlabGetError) as none_yet:
        project.artifacts.raw("main", "out/metrics.json", "execute-notebook")
    assert none_yet.value.response_code == 404
    world.emu.add_job(world.project.id, ref="main", name="execute-notebook",
                      artifacts={"out/metrics.json": '{"auc": 0.91}'})
    world.emu.add_job(world.project.id, ref="main", name="execute-notebook", status="failed",
                      artifacts={"out/metrics.json": '{"auc": 0.10}'})
    world.emu.add_job(world.project.id, ref="feat", name="execute-notebook",
                      artifacts={"out/metrics.json": '{"auc": 0.99}'})
    raw = project.artifacts.raw("main", "out/metrics.json", "execute-notebook")
    assert json.loads(raw) == {"auc": 0.91}
    archive = zipfile.ZipFile(io.BytesIO(project.artifacts.download("main", "execute-notebook")))
    assert archive.namelist() == ["out/metrics.json"]
    pipelines = project.pipelines.list(ref="main", status="success", get_all=True)
    assert len(pipelines) == 1
    assert [j.name for j in pipelines[0].jobs.list(get_all=True)] == ["execute-notebook"]


def test_two_concurrent_wiki_writers_get_one_201_and_one_400(world: World) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        barrier.wait()
        r = requests.post(world.api("/wikis"), json={"title": "index", "content": "x"},
                          headers={"PRIVATE-TOKEN": "glpat-bot"}, timeout=5)
        statuses.append(r.status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 400]


def test_standalone_process_seed_and_admin_endpoints(tmp_path: Path) -> None:
    seed = {"users": [{"username": "ds-bot", "token": "glpat-bot"}],
            "projects": [{"path": "g/p", "merge_requests": [
                {"iid": 3, "source_branch": "feat",
                 "notes": [{"body": "seeded", "author": "ds-bot"}]}]}]}
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    proc = subprocess.Popen([sys.executable, "-m", "tests.gitlab_emulator", "--port", "0",
                             "--state-file", str(tmp_path / "seed.json"), "--print-url"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = gl.Gitlab(url, private_token="glpat-bot")
        notes = client.projects.get("g/p", lazy=True).mergerequests.get(3, lazy=True).notes
        assert [n.body for n in notes.list(get_all=True)] == ["seeded"]
        requests.post(f"{url}/__emulator__/faults", json={"path": "/notes", "status": 503},
                      timeout=5)
        with pytest.raises(gl.GitlabListError):
            notes.list(get_all=True)
        state = requests.get(f"{url}/__emulator__/state", timeout=5).json()
        assert state["projects"][0]["merge_requests"][0]["notes"][0]["body"] == "seeded"
        log = requests.get(f"{url}/__emulator__/requests", timeout=5).json()
        assert log[-1]["status"] == 503 and log[-1]["headers"]["PRIVATE-TOKEN"] == "[MASKED]"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_unknown_routes_and_per_page_cap(world: World) -> None:
    headers = {"PRIVATE-TOKEN": "glpat-bot"}
    unknown = requests.get(f"{world.emu.api_url}/nope", headers=headers, timeout=5)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "404 Not Found"})
    for i in range(120):
        world.emu.add_note(world.project.id, 1, f"n{i}", author=world.alice)
    capped = requests.get(world.api("/merge_requests/1/notes"), params={"per_page": 500},
                          headers=headers, timeout=5)
    assert capped.headers["x-per-page"] == "100" and len(capped.json()) == 100
    missing = requests.get(f"{world.emu.api_url}/projects/999", headers=headers, timeout=5)
    assert missing.json() == {"message": "404 Project Not Found"}


def test_pipeline_scopes_and_filters_follow_the_pipelines_finder(world: World) -> None:
    """app/finders/ci/pipelines_finder.rb: finished is success, failed and canceled (not
    skipped); branches keeps the newest pipeline of each branch; a bad updated_after is a 400."""
    emu, pid = world.emu, world.project.id
    old = emu.add_pipeline(pid, ref="main", status="success")
    skipped = emu.add_pipeline(pid, ref="feat", status="skipped")
    newest = emu.add_pipeline(pid, ref="main", status="failed")
    headers = {"PRIVATE-TOKEN": "glpat-bot"}

    def ids(**params: str) -> set[int]:
        answer = requests.get(world.api("/pipelines"), params=params, headers=headers, timeout=5)
        assert answer.status_code == 200, answer.text
        return {p["id"] for p in answer.json()}

    assert ids(scope="finished") == {old.id, newest.id}
    assert ids(scope="branches") == {skipped.id, newest.id}
    bad = requests.get(world.api("/pipelines"), params={"updated_after": "yesterday"},
                       headers=headers, timeout=5)
    assert bad.status_code == 400 and "updated_after is invalid" in bad.text


def test_pipeline_variables_are_read_by_maintainers_and_the_triggerer(world: World) -> None:
    """app/policies/ci/pipeline_policy.rb: read_pipeline_variable comes with admin_pipeline
    (Maintainer) or to the Developer who triggered the pipeline."""
    emu, pid = world.emu, world.project.id
    developer = emu.add_user("dev", token="glpat-dev", access_level=30)
    mine = emu.add_pipeline(pid, ref="main", user=developer)
    theirs = emu.add_pipeline(pid, ref="main", user=world.alice)

    def status(pipeline_id: object, token: str) -> int:
        return requests.get(world.api(f"/pipelines/{pipeline_id}/variables"),
                            headers={"PRIVATE-TOKEN": token}, timeout=5).status_code

    assert status(mine.id, "glpat-dev") == 200
    assert status(theirs.id, "glpat-dev") == 403
    assert status(theirs.id, "glpat-bot") == 200       # the bot is a Maintainer
    assert status("abc", "glpat-bot") == 400
