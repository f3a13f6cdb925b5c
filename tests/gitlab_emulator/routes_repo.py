"""Branches, single commits and tags of the fake repository (lib/api/branches.rb, commits.rb,
tags.rb). Branches and commits accept job tokens (doc/ci/jobs/ci_job_token.md;
docs/gitlab-facts.md "Which token GitLab accepts"); tags do not (see list_tags)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from . import entities as E
from .api import Ctx, Response, Router, bad_request, json_response, not_found, paginate, sort_items
from .model import Project, Tag, now

router = Router()
BAD_TAG = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\\x00-\x1f\x7f])|(@\{)|([/.]$)|(\.lock$)|(//)")


def _branch(p: Project, name: str) -> dict[str, Any]:
    return {"name": name, "commit": E.commit(p, p.branches[name]), "merged": False,
            "protected": name == p.default_branch, "developers_can_push": False,
            "developers_can_merge": False, "can_push": True,
            "default": name == p.default_branch,
            "web_url": f"{p.web_url}/-/tree/{name}"}


@router.add("GET", "/projects/:id/repository/branches", job_token=True)
def list_branches(ctx: Ctx) -> Response:
    names = sorted(ctx.proj.branches)
    search = ctx.params.get("search")
    if search:
        names = [n for n in names if str(search).lower() in n.lower()]
    return paginate(ctx, names, lambda n: _branch(ctx.proj, n))


@router.add("GET", "/projects/:id/repository/branches/:branch", job_token=True)
def get_branch(ctx: Ctx) -> Response:
    name = unquote(ctx.match["branch"])
    if name not in ctx.proj.branches:
        raise not_found("Branch")
    return json_response(_branch(ctx.proj, name))


@router.add("GET", "/projects/:id/repository/commits/:sha", job_token=True)
def get_commit(ctx: Ctx) -> Response:
    sha = ctx.proj.resolve_ref(unquote(ctx.match["sha"]))
    if sha is None:
        raise not_found("Commit")
    data = E.commit(ctx.proj, sha)
    data.update({"stats": {"additions": 0, "deletions": 0, "total": 0}, "status": None,
                 "project_id": ctx.proj.id, "last_pipeline": None})
    return json_response(data)


# ---- tags -----------------------------------------------------------------------------------
def create_tag_or_400(ctx: Ctx, name: str, ref: str, message: Any) -> Tag:
    """Tags::CreateService; every failure is a 400 with the service's message."""
    if not name or BAD_TAG.search(name) or name == "@":
        raise bad_request("Tag name invalid")
    if name in ctx.proj.tags:
        raise bad_request(f"Tag {name} already exists")
    if ctx.proj.resolve_ref(ref) is None:
        raise bad_request(f"Target {ref} is invalid")
    return ctx.state.add_tag(ctx.proj.id, name, ref=ref, message=str(message) if message else None)


def _version_key(tag: Tag) -> list[Any]:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", tag.name)]


# No job token, as on GitLab 17.x: doc/ci/jobs/ci_job_token.md lists the Tags API (`GET
# /repository/tags` only, lib/api/tags.rb `job_token_allowed: true`) from 18.x on; 17.6's list
# has no Tags API. A single tag is not readable with a job token on any version
# (gitlab-org/gitlab!216463 proposes it). A job token is then ignored: 404 on a private project.
@router.add("GET", "/projects/:id/repository/tags")
def list_tags(ctx: Ctx) -> Response:
    tags = list(ctx.proj.tags.values())
    search = ctx.params.get("search")
    if search:
        term = str(search).strip("^$")
        if str(search).startswith("^"):
            tags = [t for t in tags if t.name.startswith(term)]
        if str(search).endswith("$"):
            tags = [t for t in tags if t.name.endswith(term)]
        if not str(search).startswith("^") and not str(search).endswith("$"):
            tags = [t for t in tags if term.lower() in t.name.lower()]
    commits = ctx.proj.commits
    tags = sort_items(ctx, tags, {
        "updated": lambda t: (commits[t.target].created_at if t.target in commits else now(),
                              t.name),
        "name": lambda t: t.name, "version": _version_key}, "updated")
    return paginate(ctx, tags, lambda t: E.tag(ctx.proj, t))


@router.add("GET", "/projects/:id/repository/tags/:tag")
def get_tag(ctx: Ctx) -> Response:
    tag = ctx.proj.tags.get(unquote(ctx.match["tag"]))
    if tag is None:
        raise not_found("Tag")
    return json_response(E.tag(ctx.proj, tag))


@router.add("POST", "/projects/:id/repository/tags")
def create_tag(ctx: Ctx) -> Response:
    name, ref = str(ctx.required("tag_name")), str(ctx.required("ref"))
    ctx.require(30)
    tag = create_tag_or_400(ctx, name, ref, ctx.params.get("message"))
    return json_response(E.tag(ctx.proj, tag), 201)


@router.add("DELETE", "/projects/:id/repository/tags/:tag")
def delete_tag(ctx: Ctx) -> Response:
    ctx.require(40)
    if ctx.proj.tags.pop(unquote(ctx.match["tag"]), None) is None:
        raise not_found("Tag")
    return Response(204)
