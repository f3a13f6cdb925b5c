"""The HTTP tracking path: a real ``mlflow server`` on loopback, a run logged and read back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runner.mlflow_env import mlflow_env
from tests.mlflow_helpers import mlflow_server as start_mlflow_server

pytestmark = pytest.mark.integration


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    with start_mlflow_server(tmp_path) as url:
        yield url


def test_run_logged_over_http_reads_back(mlflow_server: str, tmp_path: Path) -> None:
    # An explicit MLFLOW_TRACKING_URI wins over the GitLab endpoint and the local store.
    environ = {"MLFLOW_TRACKING_URI": mlflow_server, "CI_API_V4_URL": "https://gl/api/v4",
               "CI_PROJECT_ID": "1", "GITLAB_TOKEN": "glpat-x"}
    assert mlflow_env(environ, tmp_path) == {}

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment_id = client.create_experiment("ds-pipeline-test")
    run = client.create_run(experiment_id, tags={"gitlab.CI_JOB_ID": "1000"})
    client.log_metric(run.info.run_id, "auc", 0.97)
    client.log_param(run.info.run_id, "max_depth", "4")
    client.set_terminated(run.info.run_id)

    got = requests.get(f"{mlflow_server}/api/2.0/mlflow/runs/get",
                       params={"run_id": run.info.run_id}, timeout=10)
    assert got.status_code == 200
    data = got.json()["run"]["data"]
    assert [(m["key"], m["value"]) for m in data["metrics"]] == [("auc", 0.97)]
    assert {"key": "max_depth", "value": "4"} in data["params"]
    assert {"key": "gitlab.CI_JOB_ID", "value": "1000"} in data["tags"]
    assert got.json()["run"]["info"]["status"] == "FINISHED"
