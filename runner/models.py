"""Which model a notebook scores with: a version of a registered model, or the committed file.

A notebook's ``model.uri`` names a version, ``models:/<name>/<version>``; the version ``release``
means the version of this pipeline's production tag (``v1.2.3`` -> ``1.2.3``). The registry is
the MLflow store the notebooks log to (``runner.mlflow_env``: ``MLFLOW_TRACKING_URI``, GitLab's
MLflow API with ``GITLAB_TOKEN``, else ``.ds-runner/mlruns``), the one ``ds-runner release``
registers into (``runner.publish.registry``). Versions are semantic versions kept in the tag
``gitlab.version``: GitLab takes the version from that tag and finds a version by it; plain
MLflow numbers its versions itself, so the tag is how a ``1.2.3`` is found there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from runner.errors import GitLabError, ModelRegistryError, UsageError
from runner.mlflow_env import GITLAB_MLFLOW, mlflow_env
from runner.paths import OUTPUT_DIR

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

logger = logging.getLogger(__name__)

DEFAULT_TAG_REGEX = r"^v\d+\.\d+\.\d+$"     # production tags (DS_PRODUCTION_TAG_REGEX)
RELEASE = "release"                         # the version word: this pipeline's production tag
PROFILE_NAME = "reference_profile.json"     # the drift reference that travels with the model
VERSION_TAG = "gitlab.version"              # a model version's semantic version
MODEL_FILE_TAG = "ds_pipeline.model_file"   # which of a version's files is the model
DOWNLOADS = Path(OUTPUT_DIR) / "models"     # downloaded versions, under the working directory
_URI = re.compile(r"^models:/(?P<name>[^/]+)/(?P<version>[^/]+)$")


@dataclass(frozen=True)
class ResolvedModel:
    """The model to load: ``model_file`` (the xgboost JSON), the reference profile beside it
    (None when there is none), the URI used (``models:/<name>/<version>`` or the fallback
    path) and the registered version ("" for the fallback); ``note`` says why the fallback."""

    model_file: Path
    profile_file: Path | None
    uri: str
    version: str
    note: str = ""


def version_of(tag: str) -> str:
    """``v1.2.3`` -> ``1.2.3``: the model version of a production tag."""
    return tag[1:] if tag[:1] in ("v", "V") and tag[1:2].isdigit() else tag


def production_tags(tag_regex: str) -> re.Pattern[str]:
    """The pattern of production tags (``--production-tag-regex``, ``DS_PRODUCTION_TAG_REGEX``);
    UsageError when invalid."""
    try:
        return re.compile(tag_regex or DEFAULT_TAG_REGEX)
    except re.error as e:
        raise UsageError(f"--production-tag-regex (DS_PRODUCTION_TAG_REGEX) {tag_regex!r} is not "
                         f"a valid regex: {e}") from e


def production_tag(tag: str, tag_regex: str) -> str:
    """``tag`` when it is a production tag, else ""."""
    return tag if tag and production_tags(tag_regex).search(tag) else ""


def release_version(environ: Mapping[str, str]) -> str:
    """The version of this pipeline's production tag (``CI_COMMIT_TAG`` matching
    ``DS_PRODUCTION_TAG_REGEX``); "" outside a production tag pipeline."""
    tag = production_tag(environ.get("CI_COMMIT_TAG", ""),
                         environ.get("DS_PRODUCTION_TAG_REGEX", ""))
    return version_of(tag) if tag else ""


def parse_model_uri(uri: str) -> tuple[str, str]:
    """``models:/<name>/<version>`` -> (name, version); UsageError for anything else."""
    match = _URI.match(uri.strip())
    if not match:
        raise UsageError(f"model URI {uri!r} is not models:/<name>/<version> (for example "
                         "models:/breast-cancer-xgb/1.2.3, or .../release for the version of "
                         "this pipeline's production tag)")
    return match["name"], match["version"]


def is_gitlab(tracking_uri: str) -> bool:
    return GITLAB_MLFLOW.match(tracking_uri.rstrip("/")) is not None


def shown(tracking_uri: str) -> str:
    """The URI without credentials, for messages."""
    parsed = urlparse(tracking_uri)
    if parsed.password or parsed.username:
        host = (parsed.hostname or "") + (f":{parsed.port}" if parsed.port else "")
        return parsed._replace(netloc=host).geturl()
    return tracking_uri


def registry_env(environ: Mapping[str, str], repo: Path | None = None) -> dict[str, str]:
    """The MLflow variables of the registry: the store the notebooks log to."""
    env = {k: v for k, v in environ.items() if k.startswith("MLFLOW_")}
    env.update(mlflow_env(environ, repo))
    uri = env["MLFLOW_TRACKING_URI"]
    if "://" not in uri or uri.startswith("file:"):      # MLflow 3 wants file stores allowed
        env.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return env


@contextmanager
def mlflow_client(env: Mapping[str, str]) -> Iterator[MlflowClient]:
    """A client of ``env``'s ``MLFLOW_TRACKING_URI``, with ``env`` in ``os.environ`` meanwhile:
    the HTTP client reads its token there, and MLflow's file store opens a default client of
    its own (which would otherwise create ``mlflow.db`` in the working directory)."""
    import mlflow
    from mlflow import MlflowClient

    env = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", **env}   # no bars in job logs
    saved = {k: os.environ.get(k) for k in env}
    previous = os.environ.get("MLFLOW_TRACKING_URI", "")   # set_tracking_uri keeps it there
    os.environ.update(env)
    uri = env["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        mlflow.set_tracking_uri(previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def registry_errors(tracking_uri: str, what: str) -> Iterator[None]:
    """MLflow's exceptions as ours: a GitLabError (exit 5) from GitLab's MLflow API, else a
    ModelRegistryError."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as e:
        cls = GitLabError if is_gitlab(tracking_uri) else ModelRegistryError
        raise cls(f"{what}: {e.message} (model registry {shown(tracking_uri)})") from e


def _missing(e: Exception) -> bool:
    return getattr(e, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def registered(client: MlflowClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as e:
        if _missing(e):
            return False
        raise
    return True


def find_version(client: MlflowClient, tracking_uri: str, name: str, version: str
                 ) -> ModelVersion | None:
    """The version ``version`` of registered model ``name``; None when there is none. A number
    is MLflow's own version number; GitLab finds a semantic version itself
    (``GET model-versions/get``); on plain MLflow it is the version tagged with it."""
    from mlflow.exceptions import MlflowException

    if version.isdigit() or is_gitlab(tracking_uri):
        try:
            return client.get_model_version(name, version)
        except MlflowException as e:
            if _missing(e):
                return None
            raise
    if not registered(client, name):
        return None
    quoted = name.replace("'", "\\'")
    for found in client.search_model_versions(f"name='{quoted}'"):
        if found.tags.get(VERSION_TAG) == version:
            return found
    return None


def _model_file(folder: Path, version: ModelVersion) -> Path:
    named = version.tags.get(MODEL_FILE_TAG, "")
    if named and (folder / named).is_file():
        return folder / named
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name != PROFILE_NAME]
    if len(files) != 1:
        raise ModelRegistryError(f"models:/{version.name}/{version.version}: cannot tell the "
                                 f"model file among {[p.name for p in files]} (no "
                                 f"{MODEL_FILE_TAG} tag)")
    return files[0]


def download(client: MlflowClient, tracking_uri: str, version: ModelVersion, dest: Path
             ) -> tuple[Path, Path | None]:
    """Download a version's files into ``dest`` (emptied first): (model file, profile).

    The repository is opened on the download URI itself: ``mlflow.artifacts.download_artifacts``
    would open it on the URI's parent, and GitLab's ``mlflow-artifacts:/<id>`` has the parent
    ``mlflow-artifacts:/``, which MLflow resolves to ``<server>/api/2.0/mlflow-artifacts/...``
    without the tracking URI's ``/api/v4/projects/<id>/ml/mlflow`` (a 404 on GitLab)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    source = client.get_model_version_download_uri(version.name, version.version)
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-",
                                     ignore_cleanup_errors=True) as tmp:
        into = Path(tmp) / "files"
        into.mkdir()
        repo = get_artifact_repository(source, tracking_uri=tracking_uri)
        repo.download_artifacts("", dst_path=str(into))  # type: ignore[no-untyped-call]
        into.rename(dest)
    profile = dest / PROFILE_NAME
    return _model_file(dest, version), profile if profile.is_file() else None


def fallback_model(fallback: Path, note: str = "") -> ResolvedModel:
    """The committed model file, with ``<stem>.profile.json`` beside it as its profile."""
    if not fallback.is_file():
        raise UsageError(f"model file {fallback} does not exist")
    profile = fallback.with_name(f"{fallback.stem}.profile.json")
    return ResolvedModel(fallback, profile if profile.is_file() else None, fallback.as_posix(),
                         "", note)


def resolve_model(uri: str | None, fallback: Path, *,
                  environ: Mapping[str, str] | None = None) -> ResolvedModel:
    """The model a notebook loads: the registered version ``uri`` names, downloaded under
    ``.ds-runner/models/``; ``fallback`` when ``uri`` is empty, or is a ``release`` version
    outside a production tag pipeline, or (except in a scheduled pipeline) names the version of
    a tag that is not registered yet, as in the tag pipeline that is about to release it. Any
    other version that cannot be found is an error."""
    env = os.environ if environ is None else environ
    text = (uri or "").strip()
    if not text:
        return fallback_model(fallback)
    name, version = parse_model_uri(text)
    wanted = version
    if version == RELEASE:
        wanted = release_version(env)
        if not wanted:
            return fallback_model(fallback, f"{text}: not a production tag pipeline "
                                            "(CI_COMMIT_TAG); using the fallback")
    target = registry_env(env)
    tracking_uri = target["MLFLOW_TRACKING_URI"]
    resolved = f"models:/{name}/{wanted}"
    with mlflow_client(target) as client, registry_errors(tracking_uri, resolved):
        found = find_version(client, tracking_uri, name, wanted)
        if found is None and version == RELEASE and env.get("CI_PIPELINE_SOURCE") != "schedule":
            return fallback_model(fallback, f"{resolved} is not registered (yet): using the "
                                            "fallback")
        if found is None:
            raise ModelRegistryError(f"{text}: registered model {name!r} has no version "
                                     f"{wanted} in the model registry {shown(tracking_uri)}")
        dest = Path.cwd() / DOWNLOADS / re.sub(r"[^\w.-]+", "_", name) / wanted
        model_file, profile = download(client, tracking_uri, found, dest)
    logger.info("model %s: %s", resolved, model_file)
    return ResolvedModel(model_file, profile, resolved, wanted)
