"""GitLab's MLflow-compatible model registry: the subset the MLflow client hits for ds-runner.

Paths are gitlabhq/gitlabhq's. The API lives under ``/projects/:id/ml/mlflow/api/2.0/mlflow/``
(``lib/api/ml/mlflow/entrypoint.rb``, ``MLFLOW_API_PREFIX``) and its artifacts under
``/projects/:id/ml/mlflow/api/2.0/mlflow-artifacts/`` (``lib/api/ml/mlflow_artifacts/
entrypoint.rb``); both ``authenticate!`` (anonymous: 401) and have no ``job_token_allowed``
route setting, so a job token is not a way in (the server's Bearer look-up refuses it with
401, as GitLab's ``APIGuard`` refuses a Bearer token that is no access token). Every success is
``status 200`` ("MLFlow Client considers any status code different than 200 an error, even
201", entrypoint.rb). Errors are ``render_structured_api_error!`` hashes
(``lib/api/ml/mlflow/api_helpers.rb``): ``{"error_code": "RESOURCE_DOES_NOT_EXIST"}`` 404,
``{"error_code": "RESOURCE_ALREADY_EXISTS"}`` 400, ``{"error_code":
"INVALID_PARAMETER_VALUE", "message": ...}`` 400.

Files go up through the model version's run: its ``artifact_uri`` is the ml_models package
API (``lib/api/entities/ml/mlflow/run_info.rb``, ``model_version_uri``), which takes raw PUTs
(``lib/api/ml_model_packages.rb``), and come down through the MLflow artifacts API.

Not modelled: experiments and runs of their own (only the run every model version is),
metrics/params/tags on runs, searching, updating, deleting, aliases, ``candidate:<iid>``
artifacts, token scopes (``api``/``read_api``), package GETs. A route GitLab has but the
emulator does not model answers 501 with the route's name, so a test that starts using one
fails loudly; a path GitLab has no route for answers Grape's 404.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import unquote

from .api import ApiError, Ctx, Response, Router, json_response, missing, not_found
from .model import MlModel, MlModelVersion, now

router = Router()
MLFLOW = "/projects/:id/ml/mlflow/api/2.0/mlflow"
ARTIFACTS = "/projects/:id/ml/mlflow/api/2.0/mlflow-artifacts"
PACKAGES = "/projects/:id/packages/ml_models/:model_version_id/files"
# Packages::SemVer (app/models/packages/sem_ver.rb), unprefixed: what CreateModelVersionService
# takes; app/models/ml/model_version.rb validates the version with Gitlab::Regex.semver_regex
# (lib/gitlab/regex.rb).
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z.-]+))?$")
# Routes GitLab has under the two prefixes (lib/api/ml/mlflow/*.rb, mlflow_artifacts/) that the
# emulator does not model: they answer 501, anything else 404.
UNMODELLED = {
    "experiments/get", "experiments/get-by-name", "experiments/list", "experiments/create",
    "experiments/set-experiment-tag", "experiments/search", "experiments/delete",
    "runs/create", "runs/search", "runs/update", "runs/log-metric", "runs/log-parameter",
    "runs/set-tag", "runs/log-batch", "runs/delete", "metrics/get-history",
    "registered-models/update", "registered-models/get-latest-versions",
    "registered-models/delete", "registered-models/search", "registered-models/alias",
    "model-versions/update",
}


# ---- errors and checks (lib/api/ml/mlflow/api_helpers.rb) ------------------------------------
def resource_not_found() -> ApiError:
    return ApiError(404, {"error_code": "RESOURCE_DOES_NOT_EXIST"})


def resource_already_exists() -> ApiError:
    return ApiError(400, {"error_code": "RESOURCE_ALREADY_EXISTS"})


def invalid_parameter(message: Any = None) -> ApiError:
    return ApiError(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": message})


def not_modelled(what: str) -> ApiError:
    return ApiError(501, {"message": f"501 the GitLab emulator does not model {what} "
                                     "(tests/gitlab_emulator/routes_mlflow.py)"})


def check_read(ctx: Ctx) -> None:
    """``check_api_read!`` / ``check_api_model_registry_read!``: ``not_found!`` without
    ``read_model_experiments`` / ``read_model_registry`` (Guest and up)."""
    if ctx.user is None or ctx.user.access_level < 10:
        raise not_found()


def check_write(ctx: Ctx) -> None:
    """``check_api_write!`` / ``check_api_model_registry_write!``: ``unauthorized!`` without
    ``write_model_experiments`` / ``write_model_registry`` (Developer and up)."""
    check_read(ctx)
    assert ctx.user is not None
    if ctx.user.access_level < 30:
        raise ApiError(401, {"message": "401 Unauthorized"})


def find_model(ctx: Ctx, name: Any) -> MlModel:
    """``find_model``: ``Ml::FindModelService`` by name, else RESOURCE_DOES_NOT_EXIST."""
    model = ctx.proj.ml_models.get(str(name or ""))
    if model is None:
        raise resource_not_found()
    return model


def version_by_id(ctx: Ctx, version_id: str) -> tuple[MlModel, MlModelVersion] | None:
    """``Ml::ModelVersion.by_project_id_and_id``."""
    for model in ctx.proj.ml_models.values():
        for version in model.versions.values():
            if str(version.id) == version_id:
                return model, version
    return None


def _semver_key(version: str) -> tuple[int, int, int]:
    m = SEMVER.match(version)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (0, 0, 0)


def _tags(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    return [{"key": str(t.get("key")), "value": str(t.get("value"))} for t in value
            if isinstance(t, dict) and t.get("key") is not None]


def _reject_unknown(ctx: Ctx, *known: str) -> None:
    """Parameters this emulator ignores where GitLab does something: fail loudly."""
    for name in ("run_id", "run_link"):
        if name not in known and ctx.params.get(name):
            raise not_modelled(f"{ctx.method} {ctx.path} with {name}")


# ---- entities (lib/api/entities/ml/mlflow/*.rb) ----------------------------------------------
def _secs(model_or_version: MlModel | MlModelVersion) -> tuple[int, int]:
    """``created_at.to_i`` / ``updated_at.to_i``: seconds, not MLflow's milliseconds."""
    return (int(model_or_version.created_at.timestamp()),
            int(model_or_version.updated_at.timestamp()))


def model_version_entity(ctx: Ctx, model: MlModel, v: MlModelVersion) -> dict[str, Any]:
    """``Entities::Ml::Mlflow::ModelVersion``: ``version`` is the numeric id, the semantic
    version the only alias; ``source`` the version's web page
    (``project_ml_model_version_path``)."""
    created, updated = _secs(v)
    return {"name": model.name, "version": str(v.id), "creation_timestamp": created,
            "last_updated_timestamp": updated, "user_id": None,
            "current_stage": "development", "description": v.description,
            "source": f"{ctx.proj.web_url}/-/ml/models/{model.id}/versions/{v.id}",
            "run_id": v.run_id, "status": "READY", "status_message": "",
            "tags": list(v.metadata), "run_link": "", "aliases": [v.version]}


def registered_model_entity(ctx: Ctx, model: MlModel) -> dict[str, Any]:
    """``Entities::Ml::Mlflow::RegisteredModel`` (``latest_versions`` exposes all versions)."""
    created, updated = _secs(model)
    return {"name": model.name, "creation_timestamp": created,
            "last_updated_timestamp": updated, "description": model.description,
            "user_id": str(model.user_id), "tags": list(model.metadata),
            "latest_versions": [model_version_entity(ctx, model, v)
                                for v in model.versions.values()]}


def run_entity(ctx: Ctx, model: MlModel, v: MlModelVersion) -> dict[str, Any]:
    """``Entities::Ml::Mlflow::GetRun`` of a model version's candidate: ``RunInfo``'s
    ``artifact_uri`` is ``model_version_uri``, the ml_models package files API."""
    info = {"run_id": v.run_id, "run_uuid": v.run_id, "experiment_id": str(model.experiment_iid),
            "start_time": 0, "status": "RUNNING",
            "artifact_uri": f"{ctx.state.base_url}/api/v4/projects/{ctx.proj.id}/packages/"
                            f"ml_models/{v.id}/files/",
            "lifecycle_stage": "active", "user_id": str(model.user_id)}
    return {"run": {"info": info, "data": {"metrics": [], "params": [], "tags": []}}}


def ok(data: Any) -> Response:
    return json_response(data, 200)


# ---- registered models (lib/api/ml/mlflow/registered_models.rb) -----------------------------
@router.add("POST", MLFLOW + "/registered-models/create", auth=True)
def create_registered_model(ctx: Ctx) -> Response:
    """``post 'create'``: ``requires :name``; ``Ml::CreateModelService``
    (app/services/ml/create_model_service.rb) fails on a taken name ->
    ``resource_already_exists!``. Every model gets the experiment ``[model]<name>``."""
    check_write(ctx)
    name = str(ctx.required("name"))
    if name in ctx.proj.ml_models:
        raise resource_already_exists()
    iid = max((m.experiment_iid for m in ctx.proj.ml_models.values()), default=0) + 1
    model = MlModel(id=ctx.state.next_id("ml_model"), name=name,
                    description=str(ctx.param("description", "")),
                    user_id=ctx.me.id, experiment_iid=iid)
    ctx.proj.ml_models[name] = model
    return ok({"registered_model": registered_model_entity(ctx, model)})


@router.add("GET", MLFLOW + "/registered-models/get", auth=True)
def get_registered_model(ctx: Ctx) -> Response:
    """``get 'get'``: ``optional :name, default: ''``; ``find_model`` or 404."""
    check_read(ctx)
    model = find_model(ctx, ctx.param("name", ""))
    return ok({"registered_model": registered_model_entity(ctx, model)})


# ---- model versions (lib/api/ml/mlflow/model_versions.rb) -----------------------------------
@router.add("POST", MLFLOW + "/model-versions/create", auth=True)
def create_model_version(ctx: Ctx) -> Response:
    """``post 'create'``: the model by ``name`` (404 without), the version from the tag
    ``gitlab.version`` (``custom_version``, api_helpers.rb) else
    ``Ml::IncrementVersionService`` (app/services/ml/increment_version_service.rb: 1.0.0, then
    the latest's major + 1, minor and patch kept); ``source`` is
    ignored. ``Ml::CreateModelVersionService`` (app/services/ml/create_model_version_service.rb)
    answers "Version must be semantic version" or the model's validation error, which the
    route returns as ``invalid_parameter!(result.message)`` (a list)."""
    check_write(ctx)
    _reject_unknown(ctx)
    model = find_model(ctx, ctx.param("name"))
    tags = _tags(ctx.param("tags"))
    custom = {t["key"].removeprefix("gitlab."): t["value"] for t in tags
              if t["key"].startswith("gitlab.")}
    version = custom.get("version")
    if version is None:
        latest = max(model.versions, key=_semver_key, default=None)
        if latest is None:
            version = "1.0.0"
        else:
            major, minor, patch = _semver_key(latest)
            version = f"{major + 1}.{minor}.{patch}"
    if not SEMVER.match(version):
        raise invalid_parameter(["Version must be semantic version"])
    # app/models/ml/model_version.rb: validates :version, uniqueness: { scope: [:project, :model] },
    # whose ActiveRecord message the service passes on
    if version in model.versions:
        raise invalid_parameter(["Validation failed: Version has already been taken"])
    made = MlModelVersion(id=ctx.state.next_id("ml_model_version"), model_id=model.id,
                          version=version, run_id=uuid.uuid4().hex,
                          description=str(ctx.param("description", "")), metadata=tags)
    model.versions[version] = made
    model.updated_at = now()
    return ok({"model_version": model_version_entity(ctx, model, made)})


@router.add("GET", MLFLOW + "/model-versions/get", auth=True)
def get_model_version(ctx: Ctx) -> Response:
    """``get 'get'``: ``GetModelVersionService`` -> ``by_project_id_name_and_version``, a
    look-up by the semantic version (not the id ``version`` answers); else 404."""
    check_read(ctx)
    name, version = str(ctx.required("name")), str(ctx.required("version"))
    model = ctx.proj.ml_models.get(name)
    found = model.versions.get(version) if model else None
    if model is None or found is None:
        raise resource_not_found()
    return ok({"model_version": model_version_entity(ctx, model, found)})


@router.add("GET", MLFLOW + "/model-versions/get-download-uri", auth=True)
def get_model_version_download_uri(ctx: Ctx) -> Response:
    """``get 'get-download-uri'``: ``requires :version, type: Integer`` (the id); presents it
    with ``GetDownload`` (``mlflow-artifacts:/<id>``) without looking anything up."""
    check_read(ctx)
    ctx.required("name")
    version = str(ctx.required("version"))
    if not re.fullmatch(r"[+-]?\d+", version.strip()):
        raise ApiError(400, {"error": "version is invalid"})
    return ok({"artifact_uri": f"mlflow-artifacts:/{int(version)}"})


# ---- runs (lib/api/ml/mlflow/runs.rb): only the runs model versions are ----------------------
@router.add("GET", MLFLOW + "/runs/get", auth=True)
def get_run(ctx: Ctx) -> Response:
    """``get 'get'``: ``requires :run_id``; ``find_candidate!`` by eid, else 404."""
    check_read(ctx)
    run_id = str(ctx.required("run_id"))
    for model in ctx.proj.ml_models.values():
        for v in model.versions.values():
            if v.run_id == run_id:
                return ok(run_entity(ctx, model, v))
    raise resource_not_found()


# ---- artifacts (lib/api/ml/mlflow_artifacts/artifacts.rb) -----------------------------------
@router.add("GET", ARTIFACTS + "/artifacts", auth=True)
def list_artifacts(ctx: Ctx) -> Response:
    """``get 'artifacts'``: ``path`` is ``<version id>[/<path>]``; a sub-path lists nothing
    ("404s would cause issues for MLflow"), a version lists its package files
    (``list_model_artifacts``: 404 without the version); ``ArtifactsList``/``Artifact``."""
    check_read(ctx)
    version_id, _, sub = str(ctx.param("path", "")).partition("/")
    if version_id.startswith("candidate:"):
        raise not_modelled("candidate: artifacts")
    if sub:
        return ok({"files": []})
    found = version_by_id(ctx, version_id)
    if found is None:
        raise resource_not_found()
    return ok({"files": [{"path": name, "file_size": len(data), "is_dir": False}
                         for name, data in found[1].files.items()]})


@router.add("GET", ARTIFACTS + "/artifacts/:model_version/*file_path", auth=True)
def get_artifact(ctx: Ctx) -> Response:
    """``get 'artifacts/:model_version/*file_path'``: ``find_model_artifact``
    (``PackageFileFinder`` on the version's package, else 404) and the file's bytes."""
    check_read(ctx)
    version_id = unquote(ctx.match["model_version"])
    if version_id.startswith("candidate:"):
        raise not_modelled("candidate: artifacts")
    found = version_by_id(ctx, version_id)
    if found is None:       # GitLab calls .package on nil here: a 500
        raise ApiError(500, {"message": "500 Internal Server Error"})
    data = found[1].files.get(unquote(ctx.match["file_path"]))
    if data is None:
        raise resource_not_found()
    return Response(200, data, "application/octet-stream")


# ---- package files (lib/api/ml_model_packages.rb) --------------------------------------------
@router.add("PUT", PACKAGES + "/*file_name", auth=True)
def upload_package_file(ctx: Ctx) -> Response:
    """``put`` on ``:id/packages/ml_models/:model_version_id/files/(*path/):file_name``: the
    raw body (Workhorse makes it the ``file`` param) becomes a file of the version's package,
    named ``path/file_name``; ``not_found!`` without ``write_model_registry`` or the version;
    ``created!`` (201). A second upload of a name replaces it here (GitLab adds a package file
    and its finder takes the newest)."""
    if ctx.user is None or ctx.user.access_level < 30:
        raise not_found()
    version_id = unquote(ctx.match["model_version_id"])
    if version_id.startswith("candidate:"):
        raise not_modelled("candidate: package uploads")
    found = version_by_id(ctx, version_id)
    if found is None:
        raise not_found()
    name = unquote(ctx.match["file_name"])
    if not name or name.endswith("/"):   # `requires :file_name` of the route (ml_model_packages.rb)
        raise missing("file_name")
    found[1].files[name] = ctx.body
    found[1].updated_at = now()
    return json_response({"message": "201 Created"}, 201)


# ---- everything else under the prefixes: loud ------------------------------------------------
def _rest(ctx: Ctx) -> Response:
    rest = unquote(ctx.match["rest"])
    if rest in UNMODELLED or ctx.path.split("/ml/mlflow/", 1)[-1].startswith(
            "api/2.0/mlflow-artifacts/"):
        raise not_modelled(f"{ctx.method} {rest}")
    # lib/api/api.rb: `route :any, '*path'` answers error!('404 Not Found', 404)
    raise ApiError(404, {"error": "404 Not Found"})


def _packages_rest(ctx: Ctx) -> Response:
    raise not_modelled(f"{ctx.method} packages/ml_models/{unquote(ctx.match['rest'])}")


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    router.add(_method, MLFLOW + "/*rest", auth=True)(_rest)
    router.add(_method, ARTIFACTS + "/*rest", auth=True)(_rest)
    router.add(_method, "/projects/:id/packages/ml_models/*rest", auth=True)(_packages_rest)
