"""The model registry path with real MLflow stores: ``ds-runner release`` registers the model
(the local file store for ``--local``, a real ``mlflow server`` for ``MLFLOW_TRACKING_URI``),
a re-run finds the version, and ``runner.models.resolve_model`` reads it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner import cli
from runner.errors import ModelRegistryError
from runner.models import mlflow_client, resolve_model
from tests.gitlab_emulator import GitLabEmulator
from tests.mlflow_helpers import mlflow_server
from tests.publish_helpers import Scene, make_scene
from tests.report_helpers import TRAINING_CONFIG, make_result, write_config, write_result

pytestmark = pytest.mark.integration
NAME = "tiny-model"
CONFIG = TRAINING_CONFIG + f"mlflow:\n  registered_model_name: {NAME}\n"
MODEL = '{"learner": "v1"}'
PROFILE = '{"features": {"x": {"mean": 1.0}}}'


def write_run(results: Path, model: str = MODEL, metrics: dict[str, float] | None = None,
              run_id: str = "") -> Path:
    """A training run's results with its model file and reference profile."""
    info = {"model_path": "xgb_model.json", **({"mlflow_run_id": run_id} if run_id else {})}
    folder = write_result(results, make_result(info=info, metrics=metrics))
    (folder / "xgb_model.json").write_text(model, encoding="utf-8")
    (folder / "reference_profile.json").write_text(PROFILE, encoding="utf-8")
    return folder


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MLFLOW_TRACKING_URI", "CI_COMMIT_TAG", "CI_PIPELINE_SOURCE", "GITLAB_TOKEN",
                 "CI_API_V4_URL", "CI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, CONFIG)
    (tmp_path / "xgb_model.json").write_text('{"learner": "committed"}', encoding="utf-8")
    return tmp_path


def release(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["release", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def versions(tracking_uri: str) -> list[tuple[str, str]]:
    with mlflow_client({"MLFLOW_TRACKING_URI": tracking_uri,
                        "MLFLOW_ALLOW_FILE_STORE": "true"}) as client:
        return sorted((str(v.version), v.tags.get("gitlab.version", ""))
                      for v in client.search_model_versions(f"name='{NAME}'"))


def test_release_local_registers_writes_notes_and_inference_reads_it(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(repo / ".ds-runner")
    code, out = release("--local", "v1.0.0", capsys=capsys)
    assert code == 0, out
    assert f"model of notebooks/train.ipynb: models:/{NAME}/1.0.0 (registered)" in out
    notes = (repo / ".ds-runner/report/release-v1.0.0.md").read_text(encoding="utf-8")
    assert "## Model card: v1.0.0" in notes
    assert f"Registered model: `models:/{NAME}/1.0.0`" in notes
    store = (repo / ".ds-runner/mlruns").as_uri()
    assert versions(store) == [("1", "1.0.0")]
    assert not (repo / "mlflow.db").exists()      # MLflow's default store stays untouched

    # A re-run finds the version; a dev tag releases nothing.
    code, out = release("--local", "v1.0.0", capsys=capsys)
    assert code == 0 and "(found)" in out and versions(store) == [("1", "1.0.0")]
    code, out = release("--local", "dev-1.0.1", capsys=capsys)
    assert code == 0 and "not a production tag" in out
    assert not (repo / ".ds-runner/report/release-dev-1.0.1.md").exists()

    # The inference side: the registered files, the profile with them; the fallback else.
    got = resolve_model(f"models:/{NAME}/1.0.0", repo / "xgb_model.json", environ={})
    assert got.model_file.read_text(encoding="utf-8") == MODEL
    assert got.profile_file is not None and got.profile_file.name == "reference_profile.json"
    assert json.loads(got.profile_file.read_text(encoding="utf-8")) == json.loads(PROFILE)
    assert (got.uri, got.version) == (f"models:/{NAME}/1.0.0", "1.0.0")
    tagged = resolve_model(f"models:/{NAME}/release", repo / "xgb_model.json",
                           environ={"CI_COMMIT_TAG": "v1.0.0"})
    assert tagged.version == "1.0.0" and tagged.model_file.read_text() == MODEL
    with pytest.raises(ModelRegistryError, match=r"has no version 9\.9\.9"):
        resolve_model(f"models:/{NAME}/9.9.9", repo / "xgb_model.json", environ={})
    # The tag pipeline that is about to register v2.0.0 scores with the fallback; a schedule
    # on a tag whose version is missing fails instead.
    early = resolve_model(f"models:/{NAME}/release", repo / "xgb_model.json",
                          environ={"CI_COMMIT_TAG": "v2.0.0", "CI_PIPELINE_SOURCE": "push"})
    assert early.version == "" and "not registered (yet)" in early.note
    with pytest.raises(ModelRegistryError, match=r"has no version 2\.0\.0"):
        resolve_model(f"models:/{NAME}/release", repo / "xgb_model.json",
                      environ={"CI_COMMIT_TAG": "v2.0.0", "CI_PIPELINE_SOURCE": "schedule"})


def test_release_local_gates_against_the_previous_local_release(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(repo / ".ds-runner", metrics={"auc": 0.99, "logloss": 0.2})
    assert release("--local", "v1.0.0", capsys=capsys)[0] == 0
    write_run(repo / ".ds-runner", model='{"learner": "v2"}',
              metrics={"auc": 0.96, "logloss": 0.2})
    code, out = release("--local", "v1.1.0", capsys=capsys)
    assert code == 7, out
    assert "(baseline: v1.0.0)" in out and "FAIL  no_regression auc" in out
    assert not (repo / ".ds-runner/report/release-v1.1.0.md").exists()
    assert versions((repo / ".ds-runner/mlruns").as_uri()) == [("1", "1.0.0")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str], server: str) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.pipeline(600, CI_COMMIT_TAG="v1.0.0", MLFLOW_TRACKING_URI=server)
    write_config(s.repo, CONFIG)
    return s


def test_ci_release_registers_in_the_mlflow_server_and_links_it(scene: Scene, server: str
                                                                 ) -> None:
    from mlflow import MlflowClient

    training = MlflowClient(server)
    experiment = training.create_experiment(f"training-{scene.project_id}")
    run_id = training.create_run(experiment).info.run_id     # the run the notebook logged
    write_run(scene.results, run_id=run_id)
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None
    [(number, semver)] = versions(server)
    url = f"{server}/#/models/{NAME}/versions/{number}"
    assert semver == "1.0.0"
    assert f"Registered model: [`models:/{NAME}/1.0.0`]({url})" in rel.description
    with mlflow_client({"MLFLOW_TRACKING_URI": server}) as client:
        version = client.get_model_version(NAME, number)
    assert version.run_id == run_id                 # linked to the training run
    assert version.tags["ds_pipeline.tag"] == "v1.0.0"

    code, out = scene.run("release")                 # a re-run: the same version
    assert code == 0 and "(found)" in out and len(versions(server)) == 1
    got = resolve_model(f"models:/{NAME}/release", scene.repo / "missing.json",
                        environ={"MLFLOW_TRACKING_URI": server, "CI_COMMIT_TAG": "v1.0.0"})
    assert got.model_file.read_text(encoding="utf-8") == MODEL


def test_registry_failure_makes_no_release(scene: Scene) -> None:
    write_run(scene.results)
    scene.monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")   # nothing listens
    scene.monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    code, out = scene.run("release")
    assert code == 1, out
    assert f"registering models:/{NAME}/1.0.0" in out and "127.0.0.1:9" in out
    assert scene.emu.release(scene.project_id, "v1.0.0") is None


def test_inference_example_scores_with_the_registered_version(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`release --local`, then the inference example with ``-p model_uri models:/…/1.0.0``
    and a config whose ``model.path`` does not exist: it scores with the registered file."""
    import papermill
    import yaml

    from runner.metrics import read_records

    root = Path(__file__).resolve().parents[2]
    store = tmp_path / "registry"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    write_config(repo, TRAINING_CONFIG + "mlflow:\n  registered_model_name: breast-cancer-xgb\n")
    committed = (root / "xgb_model.json").read_text(encoding="utf-8")
    folder = write_run(repo / ".ds-runner", model=committed)
    (folder / "reference_profile.json").write_bytes((root / "xgb_model.profile.json").read_bytes())
    assert release("--local", "v1.0.0", capsys=capsys)[0] == 0

    config = yaml.safe_load((root / "inference_config.yaml").read_text(encoding="utf-8"))
    config["model"]["path"] = "does-not-exist.json"
    config_path = tmp_path / "inference_config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "out"
    monkeypatch.setenv("DS_RUNNER_OUTPUT_DIR", str(out))
    papermill.execute_notebook(
        str(root / "notebooks/inference_example.ipynb"), str(tmp_path / "executed.ipynb"),
        parameters={"config_path": str(config_path), "output_dir": str(out),
                    "model_uri": "models:/breast-cancer-xgb/1.0.0"},
        cwd=str(root), kernel_name="python3", progress_bar=False)
    rec = read_records(out)
    assert rec.info["model_uri"] == "models:/breast-cancer-xgb/1.0.0"
    assert Path(rec.info["model_path"]).read_text(encoding="utf-8") == committed
    assert rec.info["reference_profile"].endswith("/1.0.0/reference_profile.json")
    assert rec.metrics["rows_scored"] == 569
