"""The HTTP tracking path: a real ``mlflow server`` on loopback, a run logged and read back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from runner.mlflow_env import mlflow_env

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (tmp_path / "server.log").open("wb")
    mlflow = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", (tmp_path / "artifacts").as_uri()],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n"
                                   + (tmp_path / "server.log").read_text(errors="replace"))
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)
        log.close()


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
