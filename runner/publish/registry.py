"""Register a release's models as versions of registered models in the MLflow model registry.

A notebook whose config names ``mlflow.registered_model_name`` gets version ``1.2.3`` of that
model for tag ``v1.2.3``, holding its model file and, when the run has one, its reference
profile (``reference_profile.json``). The registry is GitLab's (its MLflow-compatible API, with
``GITLAB_TOKEN``), ``MLFLOW_TRACKING_URI``'s, or for ``ds-runner release --local`` the local
store ``.ds-runner/mlruns``. A re-run finds the version instead of creating another.

GitLab and plain MLflow differ (docs/gitlab-facts.md, "Model registry"): GitLab takes the
version from the tag ``gitlab.version``, ignores ``source`` and ``run_id`` and makes a package
that ``log_artifact`` on the version's run fills, one file at a time with an empty
``artifact_path``; plain MLflow numbers versions itself and points ``source`` at files logged
to a run first, so a version there never lacks its files.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.config import Config
from runner.errors import ModelRegistryError
from runner.models import (
    MODEL_FILE_TAG,
    PROFILE_NAME,
    VERSION_TAG,
    find_version,
    is_gitlab,
    mlflow_client,
    registered,
    registry_env,
    registry_errors,
    shown,
    version_of,
)
from runner.report.release_notes import RegisteredModel
from runner.report.runs import LocalRun

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

logger = logging.getLogger(__name__)
NAME_KEY = "mlflow.registered_model_name"
RELEASE_EXPERIMENT = "ds-pipeline-releases"   # runs that hold released files on plain MLflow


@dataclass(frozen=True)
class Target:
    """Where models are registered: MLflow's variables (empty: nowhere, ``note`` says why)."""

    env: dict[str, str]
    note: str = ""

    @property
    def uri(self) -> str:
        return self.env.get("MLFLOW_TRACKING_URI", "")


def ci_target(environ: Mapping[str, str], api_url: str, project: str, token: str) -> Target:
    """In a job: ``MLFLOW_TRACKING_URI``, else GitLab's MLflow API with ``GITLAB_TOKEN``; a job
    without either has no registry (the job's local store would vanish with it)."""
    env = {k: v for k, v in environ.items() if k.startswith("MLFLOW_")}
    if api_url and project and token:
        env.update({"CI_API_V4_URL": api_url, "CI_PROJECT_ID": project, "GITLAB_TOKEN": token})
    if not env.get("MLFLOW_TRACKING_URI") and "GITLAB_TOKEN" not in env:
        return Target({}, "no model registry: set GITLAB_TOKEN (GitLab's model registry) or "
                          "MLFLOW_TRACKING_URI")
    target = registry_env(env)
    return Target({k: v for k, v in target.items() if k.startswith("MLFLOW_")})


def local_target(environ: Mapping[str, str], repo: Path) -> Target:
    """On this machine: ``MLFLOW_TRACKING_URI``, else the local store ``.ds-runner/mlruns``."""
    own = {k: v for k, v in environ.items() if k.startswith("MLFLOW_")}
    return Target(registry_env(own, repo))


def model_name(run: LocalRun) -> str:
    """``mlflow.registered_model_name`` of the run's config ("" when absent)."""
    cfg = Config(run.config, str(run.config_path or "config"))
    return cfg.get(NAME_KEY, str, "").strip()


def release_files(run: LocalRun) -> tuple[Path, Path | None] | None:
    """The run's model file in its output folder (``artifacts.model``, else the copy of
    ``info.model_path``) and its reference profile (``artifacts.reference_profile``, else
    ``reference_profile.json`` or ``<model stem>.profile.json`` beside it); None: no model."""
    res, folder = run.result, run.folder
    rel = res.artifacts.get("model") or Path(res.info.get("model_path", "") or "_").name
    model = folder / rel
    if not model.is_file():
        return None
    names = [res.artifacts.get("reference_profile", ""), PROFILE_NAME,
             f"{model.stem}.profile.json"]
    profile = next((folder / n for n in names if n and (folder / n).is_file()), None)
    return model, profile


def _stage(model: Path, profile: Path | None, into: Path) -> Path:
    """The version's files under their registered names."""
    shutil.copyfile(model, into / model.name)
    if profile is not None:
        shutil.copyfile(profile, into / PROFILE_NAME)
    return into


def _web_url(tracking_uri: str, version: ModelVersion) -> str:
    """GitLab's model version page (its API returns it as ``source``), the MLflow UI page on
    another server, "" for a file store."""
    if is_gitlab(tracking_uri):
        return str(version.source or "")
    if tracking_uri.startswith(("http://", "https://")):
        return f"{shown(tracking_uri).rstrip('/')}/#/models/{version.name}/versions/" \
               f"{version.version}"
    return ""


def _training_run(client: MlflowClient, run_id: str) -> str:
    """The training run's id when it is in this registry's tracking store, else ""."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return ""
    try:
        return str(client.get_run(run_id).info.run_id)
    except MlflowException:
        return ""


def _create(client: MlflowClient, tracking_uri: str, name: str, version: str, files: Path,
            tags: dict[str, str], training_run: str) -> ModelVersion:
    description = f"Released as {tags['ds_pipeline.tag']} by ds-runner release"
    if is_gitlab(tracking_uri):
        created = client.create_model_version(name, source="", tags=tags,
                                              description=description)
        for path in sorted(files.iterdir()):
            client.log_artifact(created.run_id, str(path))
        return created
    run_id = _training_run(client, training_run)
    if not run_id:
        experiment = client.get_experiment_by_name(RELEASE_EXPERIMENT)
        experiment_id = (experiment.experiment_id if experiment
                         else client.create_experiment(RELEASE_EXPERIMENT))
        run_id = client.create_run(experiment_id, run_name=f"{name} {version}").info.run_id
        client.set_terminated(run_id)
    folder = f"registered-model/{version}"
    client.log_artifacts(run_id, str(files), folder)
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{folder}"
    return client.create_model_version(name, source, run_id=run_id, tags=tags,
                                       description=description)


def register_run(run: LocalRun, target: Target, tag: str, commit: str, *,
                 dry_run: bool) -> RegisteredModel:
    """Version ``version_of(tag)`` of the run's registered model, made or found."""
    name = model_name(run)
    if not name:
        return RegisteredModel(note=f"no `{NAME_KEY}` in the notebook's config")
    version = version_of(tag)
    uri = f"models:/{name}/{version}"
    if not target.env:
        return RegisteredModel(name, version, uri, note=target.note)
    if not run.result.ok:
        return RegisteredModel(name, version, uri, note=f"the run {run.result.status}")
    files = release_files(run)
    if files is None:
        raise ModelRegistryError(f"{run.result.notebook}: no model file to register as {uri} "
                                 f"in {run.folder} (the notebook records it with "
                                 "record_info('model_path', ...))")
    if dry_run:
        return RegisteredModel(name, version, uri, state="would register")
    tags = {VERSION_TAG: version, MODEL_FILE_TAG: files[0].name, "ds_pipeline.tag": tag,
            "ds_pipeline.commit": commit, "ds_pipeline.notebook": run.result.notebook,
            "ds_pipeline.mlflow_run_id": run.result.info.get("mlflow_run_id", "")}
    tracking_uri = target.uri
    with mlflow_client(target.env) as client, registry_errors(tracking_uri,
                                                              f"registering {uri}"):
        found = find_version(client, tracking_uri, name, version)
        if found is not None:
            return RegisteredModel(name, version, uri, _web_url(tracking_uri, found), "found")
        if not registered(client, name):
            client.create_registered_model(name, description=f"Registered by ds-runner "
                                                             f"release from {run.result.notebook}")
        with tempfile.TemporaryDirectory(prefix="ds-runner-model-") as tmp:
            made = _create(client, tracking_uri, name, version, _stage(*files, Path(tmp)),
                           tags, run.result.info.get("mlflow_run_id", ""))
    logger.debug("registered %s (%s)", uri, made.version)
    return RegisteredModel(name, version, uri, _web_url(tracking_uri, made), "registered")


def register_models(runs: Sequence[LocalRun], target: Target, tag: str, commit: str, *,
                    dry_run: bool) -> dict[str, RegisteredModel]:
    """Each run's registration, by notebook; raises before anything is released."""
    return {run.result.notebook: register_run(run, target, tag, commit, dry_run=dry_run)
            for run in runs}


def say_models(models: Mapping[str, RegisteredModel], say: Callable[[str], None]) -> None:
    """One line per notebook for the job log."""
    for notebook, model in models.items():
        if model.state:
            say(f"model of {notebook}: {model.uri} ({model.state})"
                + (f" {model.web_url}" if model.web_url else ""))
        else:
            say(f"model of {notebook}: not registered ({model.note})")
