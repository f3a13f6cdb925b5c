"""``ds-runner release`` against the GitLab emulator, through the real python-gitlab client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.report.release_notes import parse_release_metrics
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import BOT_TOKEN, SHA, Scene, make_scene, release_description
from tests.report_helpers import make_result, write_result

pytestmark = pytest.mark.integration
IMAGE = "registry.example.com/group/ds-example:v1.0.0"
MODEL_LINK = "Model file xgb_model.json of notebooks/train.ipynb"


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.pipeline(500, CI_COMMIT_TAG="v1.0.0", DS_IMAGE=IMAGE)
    s.write()
    return s


def test_release_on_production_tag_is_created(scene: Scene) -> None:
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and rel.sha == SHA
    assert "## Model card: v1.0.0" in rel.description and f"`{IMAGE}`" in rel.description
    assert "[MLflow run]" not in rel.description and "http://mlflow.example/" in rel.description
    assert parse_release_metrics(rel.description) == {
        "notebooks/train.ipynb": {"auc": 0.97, "logloss": 0.21}}
    links = {ln.name: ln for ln in rel.links}
    assert set(links) == {MODEL_LINK, f"Container image {IMAGE}"}
    assert links[MODEL_LINK].url == (
        f"{scene.emu.url}/group/ds-example/-/jobs/artifacts/v1.0.0/raw/"
        ".ds-runner/notebooks/train/xgb_model.json?job=execute-notebook")
    assert "PASS  min" in out and "created release v1.0.0" in out


def test_model_link_points_at_the_job_that_trained_it(scene: Scene) -> None:
    """In parallel mode the model comes from a child-pipeline job, which the run recorded."""
    job_url = f"{scene.emu.url}/group/ds-example/-/jobs/7001"
    info = {"model_path": "xgb_model.json", "job_url": job_url}
    scene.write(make_result(info=info))
    assert scene.run("release")[0] == 0
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None
    links = {ln.name: ln.url for ln in rel.links}
    assert links[MODEL_LINK] == (
        f"{job_url}/artifacts/raw/.ds-runner/notebooks/train/xgb_model.json")


def test_rerun_updates_and_does_not_double(scene: Scene) -> None:
    assert scene.run("release")[0] == 0
    scene.write(make_result(metrics={"auc": 0.99, "logloss": 0.2}))
    scene.monkeypatch.setenv("DS_IMAGE", IMAGE + "-rebuilt")
    code, out = scene.run("release")
    assert code == 0, out
    assert "updated existing release v1.0.0" in out
    [rel] = scene.emu.releases(scene.project_id)
    assert parse_release_metrics(rel.description) == {
        "notebooks/train.ipynb": {"auc": 0.99, "logloss": 0.2}}
    assert sorted(ln.name for ln in rel.links) == [    # the image link replaced, not doubled
        f"Container image {IMAGE}-rebuilt", MODEL_LINK]
    assert scene.run("release")[0] == 0
    assert len(scene.emu.releases(scene.project_id)[0].links) == 2


def test_dev_tag_makes_nothing(scene: Scene) -> None:
    scene.monkeypatch.setenv("CI_COMMIT_TAG", "dev-1.0.0")
    code, out = scene.run("release")
    assert code == 0
    assert "tag dev-1.0.0 does not match the production tag pattern" in out
    assert scene.emu.requests == [] and scene.emu.releases(scene.project_id) == []


def test_no_tag_makes_nothing(scene: Scene) -> None:
    scene.monkeypatch.delenv("CI_COMMIT_TAG")
    code, out = scene.run("release")
    assert code == 0 and "not a tag pipeline" in out and scene.emu.requests == []


def test_gate_failure_makes_nothing_and_exits_7(scene: Scene) -> None:
    scene.write(make_result(metrics={"auc": 0.9, "logloss": 0.5}))
    code, out = scene.run("release")
    assert code == 7
    assert "FAIL  min           auc" in out and "value=0.9 " in out and "limit=0.95" in out
    assert "FAIL  max           logloss" in out and "PASS  no_regression" in out
    assert "2 validation gate(s) failed for v1.0.0: no release created" in out
    assert scene.emu.releases(scene.project_id) == [] and scene.writes() == []


def test_no_regression_against_v0_9_0(scene: Scene) -> None:
    scene.emu.add_release(scene.project_id, "v0.9.0", ref=SHA,
                          description=release_description("v0.9.0", {"auc": 0.99}))
    code, out = scene.run("release")
    assert code == 7
    assert "FAIL  no_regression auc" in out and "vs production 0.99" in out
    assert scene.emu.release(scene.project_id, "v1.0.0") is None
    scene.emu.add_release(scene.project_id, "v0.9.1", ref=SHA,
                          description=release_description("v0.9.1", {"auc": 0.975}))
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and "production release `v0.9.1`" in rel.description


def test_force_releases_and_says_so(scene: Scene) -> None:
    scene.write(make_result(metrics={"auc": 0.5, "logloss": 0.1}))
    code, out = scene.run("release", "--force")
    assert code == 0, out
    assert "releasing v1.0.0 anyway (--force)" in out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and "**Forced release.**" in rel.description


def test_job_token_is_enough_for_releases(scene: Scene) -> None:
    job = scene.emu.add_job(scene.project_id, ref="v1.0.0", name="release", status="running",
                            sha=SHA, user="ds-bot")
    scene.monkeypatch.delenv("GITLAB_TOKEN")
    scene.monkeypatch.setenv("CI_JOB_TOKEN", scene.emu.job_token(job))
    code, out = scene.run("release")
    assert code == 0, out
    assert scene.emu.release(scene.project_id, "v1.0.0") is not None
    assert {r.auth for r in scene.emu.requests} == {"job_token"}


def test_dry_run_sends_nothing(scene: Scene) -> None:
    code, out = scene.run("release", "--dry-run")
    assert code == 0, out
    assert scene.writes() == [] and scene.emu.releases(scene.project_id) == []
    assert '[dry-run] POST /projects/1/releases\n{\n  "tag_name": "v1.0.0"' in out
    assert f'"ref": "{SHA}"' in out


def test_429_and_502_storms_are_survived(scene: Scene) -> None:
    f429 = scene.emu.faults.add(r"/releases$", method="POST", status=429, retry_after=1,
                                times=2)
    f502 = scene.emu.faults.add(r"/releases$", method="GET", status=502, times=3)
    code, out = scene.run("release")
    assert code == 0, out
    assert (f429.hits, f502.hits) == (2, 3)
    assert len(scene.emu.releases(scene.project_id)) == 1


def two_notebooks_one_model(scene: Scene) -> None:
    """As the shipped examples: training copies the model it saved into its output folder,
    inference records the same model file (read from the repository) without a copy."""
    scene.write(make_result("notebooks/train.ipynb"))
    folder = write_result(scene.results, make_result("notebooks/predict.ipynb"))
    (folder / "xgb_model.json").unlink()


def test_two_notebooks_with_the_same_model_file_release_together(scene: Scene) -> None:
    two_notebooks_one_model(scene)
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None
    tag_raw = f"{scene.emu.url}/group/ds-example/-/jobs/artifacts/v1.0.0/raw/"
    assert {(ln.name, ln.url, ln.direct_asset_path) for ln in rel.links} == {
        (MODEL_LINK, f"{tag_raw}.ds-runner/notebooks/train/xgb_model.json?job=execute-notebook",
         "/models/.ds-runner/notebooks/train/xgb_model.json"),
        ("Model file xgb_model.json of notebooks/predict.ipynb",
         f"{tag_raw}models/xgb_model.json?job=execute-notebook", "/models/models/xgb_model.json"),
        (f"Container image {IMAGE}", f"{scene.emu.url}/group/ds-example/-/container_registry",
         "/container-image")}


def test_notebooks_naming_one_file_share_one_link(scene: Scene) -> None:
    for nb in ("notebooks/predict.ipynb", "notebooks/score.ipynb"):
        (write_result(scene.results, make_result(nb)) / "xgb_model.json").unlink()
    assert scene.run("release")[0] == 0
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None
    assert sorted(ln.name for ln in rel.links) == [     # train's copy is its own file
        f"Container image {IMAGE}",
        "Model file xgb_model.json of notebooks/predict.ipynb, notebooks/score.ipynb",
        MODEL_LINK]


def test_rerun_adding_a_notebook_adds_its_link_once(scene: Scene) -> None:
    """A release made by an older ds-runner (link named without the notebook) gets a second
    notebook: the old link is renamed, the new one added, nothing doubles or clashes."""
    old_url = (f"{scene.emu.url}/group/ds-example/-/jobs/artifacts/v1.0.0/raw/"
               ".ds-runner/notebooks/train/xgb_model.json?job=execute-notebook")
    scene.emu.add_release(scene.project_id, "v1.0.0", ref=SHA, description="old",
                          links=[{"name": "Model file xgb_model.json", "url": old_url}])
    two_notebooks_one_model(scene)
    code, out = scene.run("release")
    assert code == 0, out
    assert "updated existing release v1.0.0" in out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and len(rel.links) == 3
    assert {ln.name for ln in rel.links} == {
        MODEL_LINK, "Model file xgb_model.json of notebooks/predict.ipynb",
        f"Container image {IMAGE}"}
    assert scene.run("release")[0] == 0
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and len(rel.links) == 3


def test_emulator_refuses_duplicate_links_as_gitlab_does(scene: Scene) -> None:
    """GL app/models/release.rb nested_attributes_duplicates; app/models/releases/link.rb."""
    import gitlab as pg

    gl = pg.Gitlab(scene.emu.url, private_token=BOT_TOKEN)
    project = gl.projects.get(scene.project_id, lazy=True)
    links = [{"name": "m", "url": "https://x.example/a", "direct_asset_path": "/m"},
             {"name": "m", "url": "https://x.example/a", "direct_asset_path": "/n"}]
    with pytest.raises(pg.GitlabCreateError) as err:
        project.releases.create({"tag_name": "v9.0.0", "ref": SHA,
                                 "assets": {"links": links}})
    assert err.value.response_code == 400
    assert re.fullmatch(r"Validation failed: Links have duplicate values \(m\) for "
                        r"#<Release:0x[0-9a-f]{16}> scope, Links have duplicate values "
                        r"\(https://x.example/a\) for #<Release:0x[0-9a-f]{16}> scope",
                        str(err.value.error_message))
    project.releases.create({"tag_name": "v9.0.0", "ref": SHA, "assets": {"links": links[:1]}})
    rel_links = project.releases.get("v9.0.0", lazy=True).links
    with pytest.raises(pg.GitlabCreateError) as err:
        rel_links.create({"name": "other", "url": "https://x.example/b",
                          "direct_asset_path": "/m"})
    assert err.value.response_code == 400
    assert err.value.error_message == ["Filepath has already been taken"]


def test_tag_pipeline_release_under_the_job_token_reads_no_tag(scene: Scene) -> None:
    """The tag exists (a tag pipeline) and GitLab 17.x refuses the job token on the tags API:
    the release is made without reading tags."""
    scene.emu.add_tag(scene.project_id, "v1.0.0", sha=SHA)
    job = scene.emu.add_job(scene.project_id, ref="v1.0.0", name="release", status="running",
                            sha=SHA, user="ds-bot", tag=True)
    scene.monkeypatch.delenv("GITLAB_TOKEN")
    scene.monkeypatch.setenv("CI_JOB_TOKEN", scene.emu.job_token(job))
    two_notebooks_one_model(scene)
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and rel.sha == SHA and len(rel.links) == 3
    assert not [r for r in scene.emu.requests if "/repository/tags" in r.path]
    assert {r.auth for r in scene.emu.requests} == {"job_token"}
