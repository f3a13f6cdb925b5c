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
- ``GET /projects/:id/pipelines/:pipeline_id/variables``: ``authorize! :read_pipeline_variable``,
  which the project's owner has, and a developer for the pipelines they created
  (spec/policies/ci/pipeline_policy_spec.rb); ``Entities::Ci::Variable`` per variable.
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
    raw = ctx.params.get("variables") or []
    if not isinstance(raw, list) or not all(isinstance(v, dict) and v.get("key")
                                            for v in raw):
        raise ApiError(400, {"error": "variables is invalid"})
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
    pipeline = ctx.proj.pipelines.get(int(pid)) if pid.isdigit() else None
    if pipeline is None:
        raise not_found()
    user = ctx.me
    if user.access_level < OWNER and not (user.access_level >= DEVELOPER
                                          and pipeline.user_id == user.id):
        raise forbidden()
    return json_response([{**v, "raw": False} for v in pipeline.variables])

