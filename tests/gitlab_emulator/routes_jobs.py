"""Pipelines, jobs and job artifacts (lib/api/ci/pipelines.rb, jobs.rb, job_artifacts.rb).

Artifact routes accept job tokens; pipeline, job and bridge look-ups do not (not in
doc/ci/jobs/ci_job_token.md for the versions we support; docs/gitlab-facts.md "Which token GitLab
accepts"). Artifacts by ref follow GitLab's latest-successful-pipeline rule
(`latest_successful_job`); to find an older result, list jobs and read a file by job id."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import unquote

from . import entities as E
from .api import ApiError, Ctx, Response, Router, json_response, not_found, paginate, sort_items
from .model import Job, Pipeline, parse_time

router = Router()
STATUSES = ["created", "waiting_for_resource", "preparing", "pending", "running", "success",
            "failed", "canceled", "skipped", "manual", "scheduled"]


# Pipeline sources that never count as "the latest pipeline of a ref": GitLab's
# Enums::Ci::Pipeline.dangling_sources (app/models/concerns/enums/ci/pipeline.rb), left out of
# Project#ci_pipelines; a child pipeline (parent_pipeline) is one of them.
DANGLING_SOURCES = {"webide", "parent_pipeline", "ondemand_dast_scan", "ondemand_dast_validation",
                    "security_orchestration_policy", "container_registry_push", "duo_workflow",
                    "pipeline_execution_policy_schedule"}


def descendants(ctx: Ctx, pipeline: Pipeline) -> list[Pipeline]:
    """`pipeline` and the child pipelines its trigger jobs started, recursively (same project),
    in pipeline order: Ci::Pipeline#self_and_project_descendants."""
    found, todo = [], [pipeline]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += [ctx.proj.pipelines[b.downstream_id] for b in ctx.proj.bridges.values()
                 if b.pipeline_id == current.id and b.downstream_id in ctx.proj.pipelines]
    return sorted(found, key=lambda p: p.id)


def latest_successful_job(ctx: Ctx, ref: str, name: str) -> Job:
    """Project#latest_successful_build_for_ref (app/models/project.rb), as used by
    lib/api/ci/job_artifacts.rb: take the *latest successful pipeline* of `ref`
    (Ci::Pipeline.latest_successful_for_ref over Project#ci_pipelines: newest id, status
    success, no child pipeline), then the job `name` with artifacts in it or its child
    pipelines, parent first (Ci::Pipeline#build_with_artifacts_in_self_and_project_descendants:
    `ordered_by_pipeline`). Older pipelines are never searched, whether or not the latest one
    ran the job (gitlab-org/gitlab#349316); the job's own status is not checked. None ->
    RecordNotFound, answered `404 Not found`."""
    pipelines = [p for p in ctx.proj.pipelines.values()
                 if p.ref == ref and p.status == "success" and p.source not in DANGLING_SOURCES]
    if pipelines:
        latest = max(pipelines, key=lambda p: p.id)
        for pipeline in descendants(ctx, latest):
            jobs = [j for j in ctx.proj.jobs.values()
                    if j.pipeline_id == pipeline.id and j.name == name and j.artifacts]
            if jobs:
                return max(jobs, key=lambda j: j.id)   # `latest`: not a retried one
    raise ApiError(404, {"message": "404 Not found"})


def _zip(job: Job) -> Response:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(job.artifacts.items()):
            archive.writestr(path, data)
    return Response(200, buffer.getvalue(), "application/zip",
                    {"Content-Disposition": 'attachment; filename="artifacts.zip"'})


def _entry(job: Job, path: str) -> Response:
    path = unquote(path)
    if ".." in path.split("/"):
        raise ApiError(400, {"message": "400 Bad request"})
    if path not in job.artifacts:
        # Workhorse answers a missing archive entry itself, in plain text.
        raise ApiError(404, b"Not Found\n", "text/plain; charset=utf-8")
    return Response(200, job.artifacts[path], "application/octet-stream")


def _job_name(ctx: Ctx) -> str:
    return str(ctx.required("job"))


@router.add("GET", "/projects/:id/jobs/artifacts/:ref/download", job_token=True)
def download_by_ref(ctx: Ctx) -> Response:
    return _zip(latest_successful_job(ctx, unquote(ctx.match["ref"]), _job_name(ctx)))


@router.add("GET", "/projects/:id/jobs/artifacts/:ref/raw/*path", job_token=True)
def raw_by_ref(ctx: Ctx) -> Response:
    job = latest_successful_job(ctx, unquote(ctx.match["ref"]), _job_name(ctx))
    return _entry(job, ctx.match["path"])


def _job(ctx: Ctx) -> Job:
    job_id = ctx.match["job_id"]
    job = ctx.proj.jobs.get(int(job_id)) if job_id.isdigit() else None
    if job is None:
        raise not_found()
    return job


# CommitStatus::AVAILABLE_STATUSES, the values `scope` accepts (lib/api/ci/jobs.rb).
JOB_SCOPES = ["created", "waiting_for_resource", "preparing", "waiting_for_callback", "pending",
              "running", "success", "failed", "canceling", "canceled", "skipped", "manual",
              "scheduled"]


@router.add("GET", "/projects/:id/jobs", auth=True)
def project_jobs(ctx: Ctx) -> Response:
    """lib/api/ci/jobs.rb `get ':id/jobs'`: every job of the project (child pipelines' too, and
    trigger jobs not: `user_project.builds`), newest first (`order(id: :desc)`), filtered by
    `scope`/`scope[]` (statuses) and nothing else, offset pages `without_count` (no X-Total,
    X-Total-Pages or rel="last": lib/gitlab/pagination/offset_pagination.rb). The job token
    is not accepted here on the GitLab versions we support (docs/gitlab-facts.md)."""
    scope = ctx.query.get("scope[]") or ctx.query.get("scope") or []
    if any(s not in JOB_SCOPES for s in scope):
        raise ApiError(400, {"error": "scope does not have a valid value"})
    jobs = [j for j in ctx.proj.jobs.values() if not scope or j.status in scope]
    jobs = sort_items(ctx, jobs, {"id": lambda j: j.id}, "id")
    response = paginate(ctx, jobs, lambda j: E.job(ctx.state, ctx.proj, j))
    for header in ("x-total", "x-total-pages"):
        response.headers.pop(header, None)
    response.headers["Link"] = ", ".join(
        part for part in response.headers["Link"].split(", ") if 'rel="last"' not in part)
    return response


@router.add("GET", "/projects/:id/jobs/:job_id")
def get_job(ctx: Ctx) -> Response:
    return json_response(E.job(ctx.state, ctx.proj, _job(ctx)))


@router.add("GET", "/projects/:id/jobs/:job_id/artifacts", job_token=True)
def download_job(ctx: Ctx) -> Response:
    job = _job(ctx)
    if not job.artifacts:
        raise not_found()
    return _zip(job)


@router.add("GET", "/projects/:id/jobs/:job_id/artifacts/*path", job_token=True)
def raw_job(ctx: Ctx) -> Response:
    """One file of a job's archive by job id (lib/api/ci/job_artifacts.rb: `not_found! unless
    build.available_artifacts?`, then Workhorse reads the entry)."""
    job = _job(ctx)
    if not job.artifacts:
        raise not_found()
    return _entry(job, ctx.match["path"])


def _pipelines(ctx: Ctx) -> list[Pipeline]:
    found = list(ctx.proj.pipelines.values())
    for key in ("ref", "sha", "source"):
        if ctx.params.get(key) is not None:
            found = [p for p in found if getattr(p, key) == ctx.params[key]]
    if ctx.params.get("status") is not None:
        status = ctx.choice("status", STATUSES, "success")
        found = [p for p in found if p.status == status]
    return _pipeline_filters(ctx, found)


# `scope` of GET /projects/:id/pipelines (app/finders/ci/pipelines_finder.rb #by_scope): running
# and pending are statuses; finished is Ci::HasStatus `scope :finished`, with_status(:success,
# :failed, :canceled) (app/models/concerns/ci/has_status.rb); branches and tags keep the newest
# pipeline of each branch or tag (#pipelines_for_refs, #pipeline_for_ref_subquery).
SCOPES = {"running": {"running"}, "pending": {"pending"},
          "finished": {"success", "failed", "canceled"}}


def _pipeline_filters(ctx: Ctx, found: list[Pipeline]) -> list[Pipeline]:
    """`scope`, `username` and `updated_after`/`updated_before` (lib/api/ci/pipelines.rb params:
    `optional :scope, values: %w[running pending finished branches tags]` and `type: DateTime`,
    whose Grape validators answer 400 "... does not have a valid value" / "... is invalid";
    Ci::PipelinesFinder: `by_username` is the pipeline's user, `by_updated_at` compares
    `updated_at` strictly)."""
    scope = ctx.params.get("scope")
    if scope is not None:
        if scope not in (*SCOPES, "branches", "tags"):
            raise ApiError(400, {"error": "scope does not have a valid value"})
        if scope in SCOPES:
            found = [p for p in found if p.status in SCOPES[scope]]
        else:
            newest: dict[str, Pipeline] = {}
            for p in found:
                if p.tag == (scope == "tags") and (p.ref not in newest
                                                   or p.id > newest[p.ref].id):
                    newest[p.ref] = p
            found = [p for p in found if newest.get(p.ref) is p]
    username = ctx.params.get("username")
    if username is not None:
        ids = {u.id for u in ctx.state.users.values() if u.username == username}
        found = [p for p in found if p.user_id in ids]
    try:
        after, before = parse_time(ctx.params.get("updated_after")), parse_time(
            ctx.params.get("updated_before"))
    except ValueError:
        key = "updated_after" if ctx.params.get("updated_after") else "updated_before"
        raise ApiError(400, {"error": f"{key} is invalid"}) from None
    if after is not None:
        found = [p for p in found if p.updated_at > after]
    if before is not None:
        found = [p for p in found if p.updated_at < before]
    return found


@router.add("GET", "/projects/:id/pipelines")
def list_pipelines(ctx: Ctx) -> Response:
    found = sort_items(ctx, _pipelines(ctx), {"id": lambda p: p.id, "status": lambda p: p.status,
                                              "ref": lambda p: p.ref,
                                              "updated_at": lambda p: (p.updated_at, p.id)}, "id")
    return paginate(ctx, found, lambda p: E.pipeline(ctx.proj, p))


@router.add("GET", "/projects/:id/pipelines/latest")
def latest_pipeline(ctx: Ctx) -> Response:
    ref = str(ctx.param("ref", ctx.proj.default_branch))
    found = [p for p in ctx.proj.pipelines.values() if p.ref == ref]
    if not found:
        raise not_found()
    return json_response(E.pipeline(ctx.proj, max(found, key=lambda p: p.id)))


def _pipeline(ctx: Ctx) -> Pipeline:
    pid = ctx.match["pipeline_id"]
    pipeline = ctx.proj.pipelines.get(int(pid)) if pid.isdigit() else None
    if pipeline is None:
        raise not_found()
    return pipeline


@router.add("GET", "/projects/:id/pipelines/:pipeline_id")
def get_pipeline(ctx: Ctx) -> Response:
    return json_response(E.pipeline(ctx.proj, _pipeline(ctx)))


@router.add("GET", "/projects/:id/pipelines/:pipeline_id/jobs")
def pipeline_jobs(ctx: Ctx) -> Response:
    pipeline = _pipeline(ctx)
    jobs = [j for j in ctx.proj.jobs.values() if j.pipeline_id == pipeline.id]
    scope = ctx.query.get("scope[]") or ctx.query.get("scope")
    if scope:
        jobs = [j for j in jobs if j.status in scope]
    jobs.sort(key=lambda j: j.id, reverse=True)
    return paginate(ctx, jobs, lambda j: E.job(ctx.state, ctx.proj, j))


@router.add("GET", "/projects/:id/pipelines/:pipeline_id/bridges")
def pipeline_bridges(ctx: Ctx) -> Response:
    """The trigger jobs of a pipeline, newest first (`scope` filters by status)."""
    pipeline = _pipeline(ctx)
    found = [b for b in ctx.proj.bridges.values() if b.pipeline_id == pipeline.id]
    scope = ctx.query.get("scope[]") or ctx.query.get("scope")
    if scope:
        found = [b for b in found if b.status in scope]
    found.sort(key=lambda b: b.id, reverse=True)
    return paginate(ctx, found, lambda b: E.bridge(ctx.state, ctx.proj, b))
