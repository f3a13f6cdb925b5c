"""GitLab's model registry end to end: ``ds-runner release`` and ``runner.models.resolve_model``
with the real MLflow client against the emulator's MLflow-compatible API
(tests/gitlab_emulator/routes_mlflow.py; docs/gitlab-facts.md, "Model registry").

GITLAB_TOKEN is set and MLFLOW_TRACKING_URI is not, so ``runner.mlflow_env`` points MLflow at
``$CI_API_V4_URL/projects/:id/ml/mlflow``. The emulator answers as GitLab does: a version is
found by its semantic version, ``version`` is the numeric id, the download URI is
``mlflow-artifacts:/<id>``, files go up through the version's run, and routes GitLab has but the
emulator does not model (``model-versions/search`` is not even GitLab's) fail the test."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from runner.errors import ModelRegistryError
from runner.models import mlflow_client, resolve_model
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import BOT_TOKEN, SHA, Scene, make_scene
from tests.report_helpers import TRAINING_CONFIG, make_result, write_config, write_result

pytestmark = pytest.mark.integration
NAME = "tiny-model"
CONFIG = TRAINING_CONFIG + f"mlflow:\n  registered_model_name: {NAME}\n"
MODEL = '{"learner": "v1"}'
PROFILE = '{"features": {"x": {"mean": 1.0}}}'


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.pipeline(700, CI_COMMIT_TAG="v1.2.3")
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                 "CI_PIPELINE_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    write_config(s.repo, CONFIG)
    folder = write_result(s.results, make_result(info={"model_path": "xgb_model.json"}))
    (folder / "xgb_model.json").write_text(MODEL, encoding="utf-8")
    (folder / "reference_profile.json").write_text(PROFILE, encoding="utf-8")
    return s


def gitlab_env(scene: Scene, token: str = BOT_TOKEN, **extra: str) -> dict[str, str]:
    """What a notebook kernel of a job with GITLAB_TOKEN sees."""
    return {"CI_API_V4_URL": scene.emu.api_url, "CI_PROJECT_ID": str(scene.project_id),
            "GITLAB_TOKEN": token, **extra}


def tracking_uri(scene: Scene) -> str:
    return f"{scene.emu.api_url}/projects/{scene.project_id}/ml/mlflow"


def mlflow_requests(scene: Scene, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, path after the project, status) of the registry's requests."""
    prefix = f"/api/v4/projects/{scene.project_id}/"
    return [(r.method, r.path.removeprefix(prefix), r.status)
            for r in scene.emu.requests[since:]
            if "/ml/mlflow/" in r.path or "/packages/ml_models/" in r.path]


def test_release_registers_the_version_with_its_files_and_links_its_page(scene: Scene
                                                                          ) -> None:
    code, out = scene.run("release")
    assert code == 0, out
    assert f"model of notebooks/train.ipynb: models:/{NAME}/1.2.3 (registered)" in out
    model = scene.emu.ml_model(scene.project_id, NAME)
    assert model is not None and list(model.versions) == ["1.2.3"]
    version = model.versions["1.2.3"]
    # Both files in the version's package, uploaded by name with an empty artifact_path.
    assert version.files == {"xgb_model.json": MODEL.encode(),
                             "reference_profile.json": PROFILE.encode()}
    tags = {t["key"]: t["value"] for t in version.metadata}
    assert tags["gitlab.version"] == "1.2.3" and tags["ds_pipeline.tag"] == "v1.2.3"
    assert tags["ds_pipeline.model_file"] == "xgb_model.json"
    assert tags["ds_pipeline.commit"] == SHA

    # The notes name the version and link its page (the API's `source`), not a numbered URL.
    page = f"{scene.emu.url}/group/ds-example/-/ml/models/{model.id}/versions/{version.id}"
    rel = scene.emu.release(scene.project_id, "v1.2.3")
    assert rel is not None
    assert f"Registered model: [`models:/{NAME}/1.2.3`]({page})" in rel.description
    assert page in out

    # What the MLflow client sent: the version looked up by its semantic version, created with
    # the model, its run read for the package URL, and the files PUT there.
    api, files = "ml/mlflow/api/2.0/mlflow", f"packages/ml_models/{version.id}/files"
    sent = mlflow_requests(scene)
    assert sent == [("GET", f"{api}/model-versions/get", 404),
                    ("GET", f"{api}/registered-models/get", 404),
                    ("POST", f"{api}/registered-models/create", 200),
                    ("POST", f"{api}/model-versions/create", 200),
                    ("GET", f"{api}/runs/get", 200),
                    ("PUT", f"{files}/reference_profile.json", 201),
                    ("PUT", f"{files}/xgb_model.json", 201)], sent
    lookups = [r for r in scene.emu.requests if r.path.endswith("/model-versions/get")]
    assert lookups[0].query == {"name": [NAME], "version": ["1.2.3"]}
    assert {r.auth for r in scene.emu.requests if "/ml/" in r.path} == {"bearer"}


def test_rerun_finds_the_version_and_creates_nothing(scene: Scene) -> None:
    assert scene.run("release")[0] == 0
    before = len(scene.emu.requests)
    code, out = scene.run("release")
    assert code == 0, out
    assert f"models:/{NAME}/1.2.3 (found)" in out
    assert mlflow_requests(scene, before) == [
        ("GET", "ml/mlflow/api/2.0/mlflow/model-versions/get", 200)]
    model = scene.emu.ml_model(scene.project_id, NAME)
    assert model is not None and list(model.versions) == ["1.2.3"]


def test_inference_downloads_the_model_and_its_profile(scene: Scene) -> None:
    assert scene.run("release")[0] == 0
    model = scene.emu.ml_model(scene.project_id, NAME)
    assert model is not None
    version_id = model.versions["1.2.3"].id
    before = len(scene.emu.requests)
    fallback = scene.repo / "committed.json"

    got = resolve_model(f"models:/{NAME}/1.2.3", fallback, environ=gitlab_env(scene))
    assert (got.uri, got.version) == (f"models:/{NAME}/1.2.3", "1.2.3")
    assert got.model_file.name == "xgb_model.json"
    assert got.model_file.read_text(encoding="utf-8") == MODEL
    assert got.profile_file is not None and got.profile_file.name == "reference_profile.json"
    assert json.loads(got.profile_file.read_text(encoding="utf-8")) == json.loads(PROFILE)

    # The download URI is asked for by the numeric id, the files come from the artifacts API
    # under the tracking URI's prefix.
    sent = mlflow_requests(scene, before)
    download_uri = [r for r in scene.emu.requests[before:]
                    if r.path.endswith("/model-versions/get-download-uri")]
    assert [r.query["version"] for r in download_uri] == [[str(version_id)]]
    artifacts = "ml/mlflow/api/2.0/mlflow-artifacts/artifacts"
    assert ("GET", f"{artifacts}/{version_id}/xgb_model.json", 200) in sent
    assert ("GET", f"{artifacts}/{version_id}/reference_profile.json", 200) in sent
    # Only MLflow's probe of /api/3.0/mlflow/server-info (no GitLab route: 404) fails.
    assert [path for _, path, status in sent if status >= 400] == [
        "ml/mlflow/api/3.0/mlflow/server-info"], sent
    assert all(r.path.startswith("/api/v4/") for r in scene.emu.requests[before:])

    tagged = resolve_model(f"models:/{NAME}/release", fallback,
                           environ=gitlab_env(scene, CI_COMMIT_TAG="v1.2.3"))
    assert tagged.version == "1.2.3" and tagged.model_file.read_text() == MODEL


def test_a_missing_version_is_a_clear_error(scene: Scene) -> None:
    assert scene.run("release")[0] == 0
    fallback = scene.repo / "committed.json"
    fallback.write_text('{"learner": "committed"}', encoding="utf-8")
    with pytest.raises(ModelRegistryError, match=r"has no version 9\.9\.9 in the model "
                                                 r"registry http://127\.0\.0\.1:\d+/api/v4"):
        resolve_model(f"models:/{NAME}/9.9.9", fallback, environ=gitlab_env(scene))
    with pytest.raises(ModelRegistryError, match=r"has no version 1\.0\.0"):
        resolve_model("models:/other-model/1.0.0", fallback, environ=gitlab_env(scene))
    # The tag pipeline about to register v2.0.0 scores with the committed file meanwhile.
    early = resolve_model(f"models:/{NAME}/release", fallback,
                          environ=gitlab_env(scene, CI_COMMIT_TAG="v2.0.0"))
    assert early.model_file == fallback and "not registered (yet)" in early.note


def test_the_job_token_is_refused_by_gitlabs_mlflow_api(scene: Scene) -> None:
    from mlflow.exceptions import MlflowException

    job = scene.emu.add_job(scene.project_id, ref="v1.2.3", name="release", status="running",
                            sha=SHA, user="ds-bot")
    job_token = scene.emu.job_token(job)

    # As MLflow's token (Authorization: Bearer) GitLab takes it for no access token: 401.
    env = {"MLFLOW_TRACKING_URI": tracking_uri(scene), "MLFLOW_TRACKING_TOKEN": job_token}
    with mlflow_client(env) as client, pytest.raises(MlflowException, match="401"):
        client.get_registered_model(NAME)
    # As JOB-TOKEN the MLflow routes ignore it (no job_token_allowed) and authenticate!: 401.
    request = urllib.request.Request(
        f"{tracking_uri(scene)}/api/2.0/mlflow/registered-models/get?name={NAME}",
        headers={"JOB-TOKEN": job_token})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401

    # MLFLOW_TRACKING_TOKEN: $CI_JOB_TOKEN beside GITLAB_TOKEN (runner.mlflow_env keeps an
    # explicit one): GitLab's 401 stops the release before it exists (exit 5).
    scene.monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", job_token)
    code, out = scene.run("release")
    assert code == 5, out
    assert f"registering models:/{NAME}/1.2.3" in out and "401" in out
    assert scene.emu.release(scene.project_id, "v1.2.3") is None
    scene.monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")

    # A job with only the job token releases without a registry and says why.
    scene.monkeypatch.delenv("GITLAB_TOKEN")
    scene.monkeypatch.setenv("CI_JOB_TOKEN", job_token)
    before = len(scene.emu.requests)
    code, out = scene.run("release")
    assert code == 0, out
    assert "not registered (no model registry: set GITLAB_TOKEN" in out
    assert mlflow_requests(scene, before) == []
    assert scene.emu.ml_model(scene.project_id, NAME) is None
    assert scene.emu.release(scene.project_id, "v1.2.3") is not None


def test_emulated_api_answers_as_gitlab(scene: Scene) -> None:
    """The forms the GitLab branches depend on, straight from the MLflow client."""
    from mlflow.exceptions import MlflowException

    env = {"MLFLOW_TRACKING_URI": tracking_uri(scene), "MLFLOW_TRACKING_TOKEN": BOT_TOKEN}
    with mlflow_client(env) as client:
        client.create_registered_model(NAME)
        with pytest.raises(MlflowException) as taken:
            client.create_registered_model(NAME)
        assert taken.value.error_code == "RESOURCE_ALREADY_EXISTS"
        first = client.create_model_version(NAME, source="")       # no tag: 1.0.0
        second = client.create_model_version(NAME, source="")      # then the major + 1
        assert (first.aliases, second.aliases) == (["1.0.0"], ["2.0.0"])
        assert int(second.version) == int(first.version) + 1          # ids, not versions
        with pytest.raises(MlflowException) as bad:
            client.create_model_version(NAME, source="", tags={"gitlab.version": "v3"})
        assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
        assert "Version must be semantic version" in bad.value.message
        # get finds by semantic version only; the id is no version there.
        assert client.get_model_version(NAME, "2.0.0").version == second.version
        with pytest.raises(MlflowException) as missing:
            client.get_model_version(NAME, second.version)
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        # get-download-uri takes the id (an Integer param) and answers mlflow-artifacts:/<id>.
        uri = client.get_model_version_download_uri(NAME, first.version)
        assert uri == f"mlflow-artifacts:/{first.version}"
        with pytest.raises(MlflowException, match="version is invalid"):
            client.get_model_version_download_uri(NAME, "1.0.0")
        # GitLab has no model-versions/search; routes it has but the emulator lacks: 501.
        with pytest.raises(MlflowException, match="404"):
            client.search_model_versions(f"name='{NAME}'")
        with pytest.raises(MlflowException, match="does not model"):
            client.update_model_version(NAME, first.version, description="changed")
