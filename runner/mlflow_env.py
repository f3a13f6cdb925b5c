"""Where MLflow logs: an explicit MLFLOW_TRACKING_URI, GitLab's MLflow endpoint, or a local store.

Inside a GitLab job with ``GITLAB_TOKEN`` and no ``MLFLOW_TRACKING_URI``, runs go to the project's
MLflow-compatible API (``$CI_API_V4_URL/projects/$CI_PROJECT_ID/ml/mlflow``); the job token is not
accepted there, so without ``GITLAB_TOKEN`` the local store is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from runner.paths import OUTPUT_DIR

LOCAL_STORE = Path(OUTPUT_DIR) / "mlruns"
# GitLab's MLflow-compatible endpoint, as mlflow_env sets it (the runs, models and their pages)
GITLAB_MLFLOW = re.compile(r"^(?P<server>https?://.+?)/api/v4/projects/(?P<project>[^/]+)"
                           r"/ml/mlflow/?$")


def mlflow_env(environ: Mapping[str, str], repo: Path | None = None) -> dict[str, str]:
    """The variables to add to a notebook kernel's environment for MLflow (may be empty)."""
    if environ.get("MLFLOW_TRACKING_URI"):
        return {}
    api, project, token = (environ.get(k, "") for k in
                           ("CI_API_V4_URL", "CI_PROJECT_ID", "GITLAB_TOKEN"))
    if api and project and token:
        env = {"MLFLOW_TRACKING_URI": f"{api.rstrip('/')}/projects/{project}/ml/mlflow"}
        if not environ.get("MLFLOW_TRACKING_TOKEN"):
            env["MLFLOW_TRACKING_TOKEN"] = token
        return env
    store = ((repo or Path.cwd()) / LOCAL_STORE).resolve()
    # MLflow 3 keeps the file store only behind this switch; it is the fastest local option
    # (sqlite costs seconds of migrations per new store) and needs no server.
    return {"MLFLOW_TRACKING_URI": store.as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}


def local_store(environ: Mapping[str, str], cwd: Path) -> Path | None:
    """The folder of the file store MLflow logs to (None for a server or a database URI);
    a relative path is taken from ``cwd``, the kernel's working directory."""
    uri = environ.get("MLFLOW_TRACKING_URI", "")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(url2pathname(parsed.path))
    elif uri and not parsed.scheme:
        path = Path(uri)
    else:
        return None
    return (cwd / path).resolve()
