"""The JSON seed document (`--state-file`, `POST /__emulator__/state`) and state snapshots."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .model import Project, iso
from .state import State

if TYPE_CHECKING:
    from .emulator import GitLabEmulator
    from .server import RequestRecord


def _bytes(value: Any) -> bytes | str:
    if isinstance(value, dict):
        return base64.b64decode(value["base64"])
    return str(value)


def apply(emu: GitLabEmulator, data: dict[str, Any]) -> None:
    """Add users and projects (and their content) described by a seed document."""
    for user in data.get("users", []):
        emu.add_user(user["username"], user.get("token") or user.get("tokens"),
                     name=user.get("name"), access_level=user.get("access_level", 40),
                     bot=user.get("bot", False))
    for spec in data.get("projects", []):
        _project(emu, spec)


def _project(emu: GitLabEmulator, spec: dict[str, Any]) -> None:
    existing = emu.state.project(spec["path"])
    project = existing or emu.add_project(spec["path"],
                                          default_branch=spec.get("default_branch", "main"),
                                          visibility=spec.get("visibility", "private"),
                                          sha=spec.get("sha"))
    pid = project.id
    for name, sha in spec.get("branches", {}).items():
        emu.add_branch(pid, name, sha)
    for title in spec.get("milestones", []):
        emu.add_milestone(pid, title)
    for tag in spec.get("tags", []):
        emu.add_tag(pid, tag["name"], ref=tag.get("ref"), sha=tag.get("sha"),
                    message=tag.get("message"), created_at=tag.get("created_at"))
    for mr in spec.get("merge_requests", []):
        made = emu.add_merge_request(
            pid, source_branch=mr["source_branch"], target_branch=mr.get("target_branch", "main"),
            iid=mr.get("iid"), sha=mr.get("sha"), author=mr.get("author"),
            state=mr.get("state", "opened"), title=mr.get("title"), commits=mr.get("commits"))
        for note in mr.get("notes", []):
            emu.add_note(pid, made.iid, note["body"], author=note["author"],
                         system=note.get("system", False), internal=note.get("internal", False),
                         created_at=note.get("created_at"), visible_to=note.get("visible_to"))
    for job in spec.get("jobs", []):
        emu.add_job(pid, ref=job["ref"], name=job["name"], status=job.get("status", "success"),
                    sha=job.get("sha"), stage=job.get("stage", "test"), user=job.get("user"),
                    token=job.get("token"), tag=job.get("tag", False),
                    artifacts={k: _bytes(v) for k, v in job.get("artifacts", {}).items()})
    for rel in spec.get("releases", []):
        emu.add_release(pid, rel["tag_name"], description=rel.get("description", ""),
                        name=rel.get("name"), ref=rel.get("ref"),
                        released_at=rel.get("released_at"), links=rel.get("links", []),
                        author=rel.get("author"), milestones=rel.get("milestones", []))
    for page in spec.get("wiki", []):
        emu.add_wiki_page(pid, page["title"], page["content"],
                          format=page.get("format", "markdown"))


def _artifact(data: bytes) -> Any:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _project_snapshot(state: State, p: Project) -> dict[str, Any]:
    def who(user_id: int | None) -> str | None:
        return state.users[user_id].username if user_id in state.users else None

    return {
        "id": p.id, "path": p.path_with_namespace, "default_branch": p.default_branch,
        "visibility": p.visibility, "branches": dict(p.branches), "milestones": p.milestones,
        "tags": [{"name": t.name, "sha": t.target, "message": t.message,
                  "created_at": iso(t.created_at)} for t in p.tags.values()],
        "merge_requests": [
            {"id": mr.id, "iid": mr.iid, "source_branch": mr.source_branch,
             "target_branch": mr.target_branch, "sha": mr.sha, "author": who(mr.author_id),
             "state": mr.state, "title": mr.title, "commits": mr.commits,
             "notes": [{"id": n.id, "body": n.body, "author": who(n.author_id),
                        "system": n.system, "internal": n.internal,
                        "created_at": iso(n.created_at), "updated_at": iso(n.updated_at),
                        "visible_to": n.visible_to}
                       for n in sorted(p.notes.values(), key=lambda n: (n.created_at, n.id))
                       if n.mr_iid == mr.iid]}
            for mr in p.merge_requests.values()],
        "jobs": [{"id": j.id, "pipeline_id": j.pipeline_id, "name": j.name, "ref": j.ref,
                  "sha": j.sha, "status": j.status, "stage": j.stage, "user": who(j.user_id),
                  "artifacts": {k: _artifact(v) for k, v in j.artifacts.items()}}
                 for j in p.jobs.values()],
        "bridges": [{"id": b.id, "pipeline_id": b.pipeline_id, "name": b.name,
                     "status": b.status, "stage": b.stage, "downstream_id": b.downstream_id}
                    for b in p.bridges.values()],
        "releases": [{"tag_name": r.tag_name, "name": r.name, "description": r.description,
                      "released_at": iso(r.released_at), "created_at": iso(r.created_at),
                      "author": who(r.author_id), "milestones": r.milestones,
                      "links": [asdict(lk) for lk in r.links]} for r in p.releases.values()],
        "wiki": [{"slug": w.slug, "title": w.title, "content": w.content, "format": w.format}
                 for w in sorted(p.wiki.values(), key=lambda w: w.slug)],
        "uploads": [{"id": u.id, "url": f"/uploads/{u.secret}/{u.filename}",
                     "size": len(u.data)} for u in p.uploads.values()],
        "ml_models": [{"id": m.id, "name": m.name, "description": m.description,
                       "versions": [{"id": v.id, "version": v.version, "run_id": v.run_id,
                                     "tags": v.metadata,
                                     "files": {n: len(d) for n, d in v.files.items()}}
                                    for v in m.versions.values()]}
                      for m in p.ml_models.values()],
    }


def snapshot(state: State) -> dict[str, Any]:
    """The whole state as JSON-able data (tokens are not included)."""
    return {"users": [{"id": u.id, "username": u.username, "name": u.name,
                       "access_level": u.access_level, "bot": u.bot}
                      for u in state.users.values()],
            "projects": [_project_snapshot(state, p) for p in state.projects.values()]}


def record_dict(record: RequestRecord) -> dict[str, Any]:
    data = asdict(record)
    data.pop("started", None)
    return data
