"""Creating a pipeline and reading its variables (lib/api/ci/pipelines.rb).

- ``POST /projects/:id/pipeline``: ``authorize! :create_pipeline`` (Developer); the route has no
  ``job_token_allowed``, so ``CI_JOB_TOKEN`` is refused. ``ref`` is required; ``variables`` is
  an array of ``{key, value, variable_type}``. Setting variables needs ``set_pipeline_variables``:
  at least the role in the project's ``ci_pipeline_variables_minimum_override_role``, else
  ``Insufficient permissions to set pipeline variables``
  (lib/gitlab/ci/pipeline/chain/validate/abilities.rb); an unknown ref is ``Reference not
  found`` (chain/validate/repository.rb). Both are 400 through ``render_validation_error!``
  (``{"message": {"base": [...]}}``). A created pipeline has source ``api`` and answers 201 with
  ``Entities::Ci::Pipeline``.
  The answer's status is ``pending``, as the example of doc/api/pipelines.md "Create a new
  pipeline" shows (the pipeline is processed before the response is rendered).
- ``GET /projects/:id/pipelines/:pipeline_id/variables``: ``authorize! :read_pipeline_variable``,
  which app/policies/ci/pipeline_policy.rb grants with ``admin_pipeline`` (Maintainer and up,
  app/policies/project_policy.rb) and to a Developer who triggered the pipeline
  (``update_pipeline & triggerer_of_pipeline``); ``requires :pipeline_id, type: Integer``, so a
  non-numeric id is a 400; ``Entities::Ci::Variable`` (lib/api/entities/ci/variable.rb: key,
  value, variable_type, raw) per variable.
"""

from __future__ import annotations

from . import entities as E
from .api import ApiError, Ctx, Response, Router, forbidden, json_response, not_found

router = Router()
DEVELOPER, MAINTAINER, OWNER = 30, 40, 50
# ci_pipeline_variables_minimum_override_role -> the access level it asks for
VARIABLE_ROLES = {"developer": DEVELOPER, "maintainer": MAINTAINER, "owner": OWNER,
                  "no_one_allowed": 10**6}


def _variables(ctx: Ctx) -> list[dict[str, str]]:
    """``params :create_pipeline_params`` (lib/api/ci/helpers/pipelines_helpers.rb): an array of
    hashes (else Grape's "variables is invalid", 400); ``variable_type`` defaults to env_var.
    ``key`` is optional there and what GitLab makes of an entry without one is not modelled."""
    raw = ctx.params.get("variables") or []
    if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
        raise ApiError(400, {"error": "variables is invalid"})
    if not all(v.get("key") for v in raw):
        raise ApiError(501, {"message": "emulator: a pipeline variable without key is not "
                                        "modelled"})
    return [{"key": str(v["key"]), "value": str(v.get("value", "")),
             "variable_type": str(v.get("variable_type") or "env_var")} for v in raw]


@router.add("POST", "/projects/:id/pipeline", auth=True)
def create_pipeline(ctx: Ctx) -> Response:
    user = ctx.require(DEVELOPER)
    ref = str(ctx.required("ref"))
    variables = _variables(ctx)
    if variables and user.access_level < VARIABLE_ROLES[ctx.proj.pipeline_variables_role]:
        raise ApiError(400, {"message": {"base": [
            "Insufficient permissions to set pipeline variables"]}})
    if ctx.proj.resolve_ref(ref) is None:
        raise ApiError(400, {"message": {"base": ["Reference not found"]}})
    pipeline = ctx.state.add_pipeline(ctx.proj.id, ref=ref, status="pending", source="api",
                                      user=user)
    pipeline.variables = variables
    return json_response(E.pipeline(ctx.proj, pipeline), 201)


@router.add("GET", "/projects/:id/pipelines/:pipeline_id/variables", auth=True)
def pipeline_variables(ctx: Ctx) -> Response:
    pid = ctx.match["pipeline_id"]
    if not pid.isdigit():
        raise ApiError(400, {"error": "pipeline_id is invalid"})
    pipeline = ctx.proj.pipelines.get(int(pid))
    if pipeline is None:
        raise not_found()
    user = ctx.me
    if user.access_level < MAINTAINER and not (user.access_level >= DEVELOPER
                                               and pipeline.user_id == user.id):
        raise forbidden()
    return json_response([{**v, "raw": False} for v in pipeline.variables])

