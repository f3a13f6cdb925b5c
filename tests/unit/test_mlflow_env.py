from __future__ import annotations

from pathlib import Path

from runner.mlflow_env import mlflow_env


def test_explicit_uri_is_kept() -> None:
    assert mlflow_env({"MLFLOW_TRACKING_URI": "http://x", "GITLAB_TOKEN": "t"}) == {}


def test_gitlab_endpoint_with_token() -> None:
    env = {"CI_API_V4_URL": "https://gl.example/api/v4/", "CI_PROJECT_ID": "42",
           "GITLAB_TOKEN": "glpat-123456"}
    assert mlflow_env(env) == {
        "MLFLOW_TRACKING_URI": "https://gl.example/api/v4/projects/42/ml/mlflow",
        "MLFLOW_TRACKING_TOKEN": "glpat-123456"}


def test_job_token_alone_keeps_local_store(tmp_path: Path) -> None:
    env = {"CI_API_V4_URL": "https://gl.example/api/v4", "CI_PROJECT_ID": "42",
           "CI_JOB_TOKEN": "job-123456"}
    got = mlflow_env(env, tmp_path)
    assert got == {"MLFLOW_TRACKING_URI": (tmp_path / ".ds-runner" / "mlruns").resolve().as_uri(),
                   "MLFLOW_ALLOW_FILE_STORE": "true"}


def test_local_store_is_the_folder_of_a_file_store(tmp_path: Path) -> None:
    from runner.mlflow_env import local_store

    store = tmp_path / "a b" / "mlruns"
    assert local_store({"MLFLOW_TRACKING_URI": store.as_uri()}, tmp_path) == store
    assert local_store({"MLFLOW_TRACKING_URI": "runs"}, tmp_path) == tmp_path / "runs"
    assert local_store({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path) is None
    assert local_store({"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, tmp_path) is None
    assert local_store({}, tmp_path) is None
