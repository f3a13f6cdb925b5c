"""JSON shapes of GitLab's API entities (lib/api/entities/*.rb), built from the records."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .model import (
    Bridge,
    Job,
    MergeRequest,
    Note,
    Pipeline,
    Project,
    Release,
    ReleaseLink,
    Tag,
    User,
    WikiPage,
    iso,
    now,
)
from .state import State


def user_basic(state: State, user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.id, "username": user.username, "name": user.name, "state": "active",
            "locked": False, "avatar_url": f"{state.base_url}/uploads/-/avatar/{user.id}.png",
            "web_url": f"{state.base_url}/{user.username}"}


def current_user(state: State, user: User) -> dict[str, Any]:
    data = user_basic(state, user) or {}
    data.update({"created_at": iso(user.created_at), "bio": "", "location": "",
                 "public_email": None, "website_url": "", "organization": "",
                 "bot": user.bot, "email": f"{user.username}@example.com",
                 "can_create_group": True, "can_create_project": True,
                 "two_factor_enabled": False, "external": False, "private_profile": False})
    return data


def user_of(state: State, user_id: int | None) -> dict[str, Any] | None:
    return user_basic(state, state.users.get(user_id)) if user_id is not None else None


def project(state: State, p: Project) -> dict[str, Any]:
    host = state.base_url.split("://", 1)[-1]
    return {"id": p.id, "description": "", "name": p.name, "name_with_namespace":
            p.path_with_namespace.replace("/", " / "), "path": p.name,
            "path_with_namespace": p.path_with_namespace, "created_at": iso(p.created_at),
            "default_branch": p.default_branch, "tag_list": [], "topics": [],
            "ssh_url_to_repo": f"git@{host.split(':')[0]}:{p.path_with_namespace}.git",
            "http_url_to_repo": f"{p.web_url}.git", "web_url": p.web_url,
            "readme_url": None, "avatar_url": None, "forks_count": 0, "star_count": 0,
            "last_activity_at": iso(now()), "visibility": p.visibility,
            "namespace": {"id": p.id, "name": p.namespace, "path": p.namespace,
                          "kind": "group", "full_path": p.namespace,
                          "web_url": f"{state.base_url}/groups/{p.namespace}"},
            "wiki_enabled": True, "jobs_enabled": True, "merge_requests_enabled": True,
            "_links": {"self": f"{state.base_url}/api/v4/projects/{p.id}"}}


def commit(p: Project, sha: str) -> dict[str, Any]:
    c = p.commits.get(sha)
    title = c.title if c else f"Commit {sha[:8]}"
    created = iso(c.created_at) if c else iso(now())
    name, email = (c.author_name, c.author_email) if c else ("Emulated Author", "a@example.com")
    return {"id": sha, "short_id": sha[:8], "created_at": created, "parent_ids": [],
            "title": title, "message": c.message if c else title, "author_name": name,
            "author_email": email, "authored_date": created, "committer_name": name,
            "committer_email": email, "committed_date": created, "trailers": {},
            "extended_trailers": {}, "web_url": f"{p.web_url}/-/commit/{sha}"}


def merge_request(state: State, p: Project, mr: MergeRequest) -> dict[str, Any]:
    return {"id": mr.id, "iid": mr.iid, "project_id": p.id, "title": mr.title,
            "description": mr.description, "state": mr.state,
            "created_at": iso(mr.created_at), "updated_at": iso(mr.updated_at),
            "merged_at": None, "closed_at": None, "merged_by": None, "merge_user": None,
            "closed_by": None, "target_branch": mr.target_branch,
            "source_branch": mr.source_branch, "user_notes_count": sum(
                1 for n in p.notes.values() if n.mr_iid == mr.iid and not n.system),
            "upvotes": 0, "downvotes": 0, "author": user_of(state, mr.author_id),
            "assignees": [], "assignee": None, "reviewers": [], "source_project_id": p.id,
            "target_project_id": p.id, "labels": [], "draft": False, "work_in_progress": False,
            "milestone": None, "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
            "sha": mr.sha, "merge_commit_sha": None, "squash_commit_sha": None,
            "discussion_locked": None, "should_remove_source_branch": None,
            "force_remove_source_branch": None, "reference": f"!{mr.iid}",
            "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}",
                           "full": f"{p.path_with_namespace}!{mr.iid}"},
            "web_url": f"{p.web_url}/-/merge_requests/{mr.iid}",
            "time_stats": {"time_estimate": 0, "total_time_spent": 0,
                           "human_time_estimate": None, "human_total_time_spent": None},
            "squash": False, "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False, "blocking_discussions_resolved": True}


def note(state: State, n: Note) -> dict[str, Any]:
    return {"id": n.id, "type": None, "body": n.body, "attachment": None,
            "author": user_of(state, n.author_id), "created_at": iso(n.created_at),
            "updated_at": iso(n.updated_at), "system": n.system, "noteable_id": n.noteable_id,
            "noteable_type": "MergeRequest", "project_id": n.project_id,
            "resolvable": False, "confidential": n.internal, "internal": n.internal,
            "imported": False, "imported_from": "none", "noteable_iid": n.mr_iid,
            "commands_changes": {}}


def wiki_page(page: WikiPage, content: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"format": page.format, "slug": page.slug, "title": page.title}
    if content:
        data.update({"content": page.content, "encoding": "UTF-8"})
    return data


def link(p: Project, release: Release, lk: ReleaseLink) -> dict[str, Any]:
    direct = lk.url
    if lk.direct_asset_path:
        direct = f"{p.web_url}/-/releases/{quote(release.tag_name, safe='')}/downloads" + (
            lk.direct_asset_path if lk.direct_asset_path.startswith("/")
            else "/" + lk.direct_asset_path)
    return {"id": lk.id, "name": lk.name, "url": lk.url, "direct_asset_url": direct,
            "link_type": lk.link_type}


def release(state: State, p: Project, r: Release) -> dict[str, Any]:
    tag = quote(r.tag_name, safe="")
    sources = [{"format": fmt, "url": f"{p.web_url}/-/archive/{tag}/{p.name}-{tag}.{fmt}"}
               for fmt in ("zip", "tar.gz", "tar.bz2", "tar")]
    data: dict[str, Any] = {
        "name": r.name, "tag_name": r.tag_name, "description": r.description,
        "created_at": iso(r.created_at), "released_at": iso(r.released_at),
        "upcoming_release": r.released_at > now(), "author": user_of(state, r.author_id),
        "commit": commit(p, r.sha), "commit_path": f"/{p.path_with_namespace}/-/commit/{r.sha}",
        "tag_path": f"/{p.path_with_namespace}/-/tags/{tag}",
        "assets": {"count": len(sources) + len(r.links), "sources": sources,
                   "links": [link(p, r, lk) for lk in sorted(r.links, key=lambda lk: -lk.id)]},
        "evidences": [],
        "_links": {
            "closed_issues_url": f"{p.web_url}/-/issues?release_tag={tag}&scope=all&state=closed",
            "closed_merge_requests_url":
                f"{p.web_url}/-/merge_requests?release_tag={tag}&scope=all&state=closed",
            "edit_url": f"{p.web_url}/-/releases/{tag}/edit",
            "merged_merge_requests_url":
                f"{p.web_url}/-/merge_requests?release_tag={tag}&scope=all&state=merged",
            "opened_issues_url": f"{p.web_url}/-/issues?release_tag={tag}&scope=all&state=opened",
            "opened_merge_requests_url":
                f"{p.web_url}/-/merge_requests?release_tag={tag}&scope=all&state=opened",
            "self": f"{p.web_url}/-/releases/{tag}"}}
    if data["author"] is None:
        del data["author"]  # exposed only when present
    if r.milestones:
        data["milestones"] = [{"title": title, "project_id": p.id, "state": "active"}
                              for title in r.milestones]
    return data


def tag(p: Project, t: Tag) -> dict[str, Any]:
    rel = p.releases.get(t.name)
    return {"name": t.name, "message": t.message, "target": t.target,
            "commit": commit(p, t.target),
            "release": {"tag_name": rel.tag_name, "description": rel.description} if rel else None,
            "protected": False, "created_at": iso(t.created_at)}


def pipeline(p: Project, pl: Pipeline) -> dict[str, Any]:
    return {"id": pl.id, "iid": pl.iid, "project_id": p.id, "sha": pl.sha, "ref": pl.ref,
            "status": pl.status, "source": pl.source, "created_at": iso(pl.created_at),
            "updated_at": iso(pl.updated_at), "web_url": f"{p.web_url}/-/pipelines/{pl.id}"}


def job(state: State, p: Project, j: Job) -> dict[str, Any]:
    pl = p.pipelines[j.pipeline_id]
    size = sum(len(v) for v in j.artifacts.values())
    return {"id": j.id, "status": j.status, "stage": j.stage, "name": j.name, "ref": j.ref,
            "tag": j.tag, "coverage": None, "allow_failure": False,
            "created_at": iso(j.created_at), "started_at": iso(j.created_at),
            "finished_at": None if j.status == "running" else iso(j.created_at),
            "erased_at": None, "duration": 1.0, "queued_duration": 0.1,
            "user": user_of(state, j.user_id), "commit": commit(p, j.sha),
            "pipeline": pipeline(p, pl), "web_url": f"{p.web_url}/-/jobs/{j.id}",
            "project": {"ci_job_token_scope_enabled": False},
            "artifacts": [{"file_type": "archive", "size": size, "filename": "artifacts.zip",
                           "file_format": "zip"}] if j.artifacts else [],
            "artifacts_file": {"filename": "artifacts.zip", "size": size}
            if j.artifacts else None,
            "artifacts_expire_at": None, "tag_list": [], "runner": None,
            "archived": False, "failure_reason": "script_failure"
            if j.status == "failed" else None}


def bridge(state: State, p: Project, b: Bridge) -> dict[str, Any]:
    """Entities::Ci::Bridge: JobBasic plus `downstream_pipeline` (PipelineBasic or null)."""
    pl = p.pipelines[b.pipeline_id]
    down = p.pipelines.get(b.downstream_id) if b.downstream_id is not None else None
    data: dict[str, Any] = {
        "id": b.id, "status": b.status, "stage": b.stage, "name": b.name, "ref": pl.ref,
        "tag": pl.tag, "coverage": None, "allow_failure": False,
        "created_at": iso(b.created_at), "started_at": iso(b.created_at),
        "finished_at": None if b.status in ("running", "pending", "created")
        else iso(b.created_at), "erased_at": None, "duration": 1.0, "queued_duration": 0.1,
        "user": user_of(state, b.user_id), "commit": commit(p, pl.sha),
        "pipeline": pipeline(p, pl), "web_url": f"{p.web_url}/-/jobs/{b.id}",
        "project": {"ci_job_token_scope_enabled": False},
        "downstream_pipeline": pipeline(p, down) if down is not None else None}
    if b.status == "failed":
        data["failure_reason"] = "downstream_pipeline_creation_failed" if down is None \
            else "script_failure"
    return data
