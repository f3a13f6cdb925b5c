"""Small helpers the example notebooks share: config checks, MLflow set-up, latency.

The notebooks stay readable on their own; what would otherwise be copied into both of them (the
``metrics``/``gates`` checks, choosing the MLflow store, the run's browsable URL) lives here.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, MutableMapping
from pathlib import Path

from runner.config import Config, metric_directions
from runner.errors import ConfigError
from runner.mlflow_env import GITLAB_MLFLOW, mlflow_env
from runner.report.gates import parse_gates


def check_metric_names(cfg: Config, known: Collection[str]) -> dict[str, str]:
    """Validate the ``metrics`` and ``gates`` sections against the metrics a notebook records.

    Returns the metric directions. An unknown metric name is a ConfigError naming its key.
    """
    try:
        directions = metric_directions(cfg.data)
    except ConfigError as e:  # metric_directions does not know the file name
        raise ConfigError(f"{cfg.source}: {str(e).split(': ', 1)[-1]}") from None
    options = ", ".join(sorted(known))
    for name in directions:
        if name not in known:
            raise ConfigError(f"{cfg.source}: unknown metric 'metrics.{name}' "
                              f"(this notebook records {options})")
    gates = parse_gates(cfg.data, cfg.source)
    for check in gates.checks:
        if check.metric and check.metric not in known:   # "": judges no recorded metric
            where = (f"'{check.key}'" if check.key.endswith(f".{check.metric}")
                     else f"{check.metric!r} in '{check.key}'")
            raise ConfigError(f"{cfg.source}: unknown metric {where} "
                              f"(this notebook records {options})")
    return directions


def positive(cfg: Config, key: str, value: float) -> None:
    """Raise a ConfigError naming ``key`` unless ``value`` is > 0."""
    if value <= 0:
        raise ConfigError(f"{cfg.source}: '{key}' must be greater than 0, got {value!r}")


def configure_mlflow(environ: MutableMapping[str, str] | None = None) -> str:
    """Point MLflow at ``MLFLOW_TRACKING_URI``, else at the runner's default; return the URI.

    The default is GitLab's MLflow endpoint inside a job with ``GITLAB_TOKEN``, else the local
    file store ``.ds-runner/mlruns`` (relative to the working directory, the repository root).
    MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is true; the file store is
    the fastest local option (no database migrations on first use), so it is allowed here.
    """
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    env.update(mlflow_env(dict(env)))
    uri = env["MLFLOW_TRACKING_URI"]
    if "://" not in uri or uri.startswith("file:"):
        env.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def mlflow_run_url(tracking_uri: str, experiment_id: str, run_id: str,
                   environ: MutableMapping[str, str] | None = None) -> str:
    """Where a person can look at the run.

    GitLab's endpoint -> the project's model-experiment page (needs ``CI_PROJECT_PATH`` or
    ``CI_PROJECT_URL``; otherwise the run's REST URL); any other http(s) server -> the MLflow UI
    page of the run; a file store -> the run's directory.
    """
    env = os.environ if environ is None else environ
    uri = tracking_uri.rstrip("/")
    gitlab = GITLAB_MLFLOW.match(uri)
    if gitlab:
        project_url = env.get("CI_PROJECT_URL") or (
            f"{gitlab['server']}/{env['CI_PROJECT_PATH']}" if env.get("CI_PROJECT_PATH") else "")
        if project_url:
            return f"{project_url.rstrip('/')}/-/ml/experiments/{experiment_id}"
        return f"{uri}/api/2.0/mlflow/runs/get?run_id={run_id}"
    if uri.startswith(("http://", "https://")):
        return f"{uri}/#/experiments/{experiment_id}/runs/{run_id}"
    if uri.startswith("file:"):
        return f"{uri}/{experiment_id}/{run_id}"
    return f"{uri} run {run_id}"


def p95_ms(durations_s: Iterable[float]) -> float:
    """The 95th percentile (linear interpolation) of durations in seconds, in milliseconds."""
    values = sorted(d * 1000.0 for d in durations_s)
    if not values:
        raise ValueError("no durations to summarise")
    rank = 0.95 * (len(values) - 1)
    low = int(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def resolve_under(base: str | Path, path: str) -> Path:
    """``path`` as given when absolute, else relative to ``base``."""
    p = Path(path)
    return p if p.is_absolute() else Path(base) / p

