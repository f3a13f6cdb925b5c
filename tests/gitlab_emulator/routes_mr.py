"""Current user, projects, merge requests, MR notes and uploads."""

from __future__ import annotations

import mimetypes
import re
import secrets

from . import entities as E
from .api import (
    ApiError,
    Ctx,
    Response,
    Router,
    bad_request,
    forbidden,
    json_response,
    missing,
    not_found,
    paginate,
    sort_items,
)
from .model import MergeRequest, Note, Upload, now

router = Router()
NOTE_MAX_CHARS = 1_000_000


@router.add("GET", "/user", auth=True)
def get_user(ctx: Ctx) -> Response:
    return json_response(E.current_user(ctx.state, ctx.me))


@router.add("GET", "/projects/:id")
def get_project(ctx: Ctx) -> Response:
    return json_response(E.project(ctx.state, ctx.proj))


def _mr(ctx: Ctx) -> MergeRequest:
    mr = ctx.proj.merge_requests.get(int(ctx.match["iid"])) if ctx.match["iid"].isdigit() else None
    if mr is None:
        raise not_found("Merge Request")
    return mr


def _mr_list(ctx: Ctx, mrs: list[MergeRequest]) -> Response:
    state = ctx.choice("state", ["opened", "closed", "locked", "merged", "all"], "all")
    wanted = [mr for mr in mrs if state in ("all", mr.state)]
    for key in ("source_branch", "target_branch"):
        if ctx.param(key) is not None:
            wanted = [mr for mr in wanted if getattr(mr, key) == ctx.param(key)]
    wanted = sort_items(ctx, wanted, {"created_at": lambda m: (m.created_at, m.id),
                                      "updated_at": lambda m: (m.updated_at, m.id)}, "created_at")
    return paginate(ctx, wanted, lambda mr: E.merge_request(ctx.state, ctx.proj, mr))


@router.add("GET", "/projects/:id/merge_requests", job_token=True)
def list_mrs(ctx: Ctx) -> Response:
    return _mr_list(ctx, list(ctx.proj.merge_requests.values()))


@router.add("GET", "/projects/:id/merge_requests/:iid", job_token=True)
def get_mr(ctx: Ctx) -> Response:
    mr = _mr(ctx)
    data = E.merge_request(ctx.state, ctx.proj, mr)
    data["diff_refs"] = {"base_sha": ctx.proj.branches.get(mr.target_branch), "head_sha": mr.sha,
                         "start_sha": ctx.proj.branches.get(mr.target_branch)}
    return json_response(data)


@router.add("GET", "/projects/:id/repository/commits/:sha/merge_requests", job_token=True)
def commit_mrs(ctx: Ctx) -> Response:
    sha = ctx.proj.resolve_ref(ctx.match["sha"])
    if sha is None:
        raise not_found("Commit")
    return _mr_list(ctx, [mr for mr in ctx.proj.merge_requests.values() if sha in mr.commits])


# ---- notes ----------------------------------------------------------------------------------
def _readable(ctx: Ctx, note: Note) -> bool:
    if note.visible_to is None:
        return True
    return ctx.user is not None and (ctx.user.id == note.author_id
                                     or ctx.user.username in note.visible_to)


def _note(ctx: Ctx, mr: MergeRequest) -> Note:
    note_id = ctx.match["note_id"]
    note = ctx.proj.notes.get(int(note_id)) if note_id.isdigit() else None
    if note is None or note.mr_iid != mr.iid or not _readable(ctx, note):
        raise not_found("Note")
    return note


@router.add("GET", "/projects/:id/merge_requests/:iid/notes", job_token=True, auth=True)
def list_notes(ctx: Ctx) -> Response:
    mr = _mr(ctx)
    ctx.choice("activity_filter", ["all_notes", "only_comments", "only_activity"], "all_notes")
    notes = [n for n in ctx.proj.notes.values() if n.mr_iid == mr.iid]
    if ctx.param("activity_filter") == "only_comments":
        notes = [n for n in notes if not n.system]
    elif ctx.param("activity_filter") == "only_activity":
        notes = [n for n in notes if n.system]
    notes = sort_items(ctx, notes, {"created_at": lambda n: (n.created_at, n.id),
                                    "updated_at": lambda n: (n.updated_at, n.id)}, "created_at")
    return paginate(ctx, notes, lambda n: E.note(ctx.state, n), keep=lambda n: _readable(ctx, n))


@router.add("GET", "/projects/:id/merge_requests/:iid/notes/:note_id", job_token=True, auth=True)
def get_note(ctx: Ctx) -> Response:
    return json_response(E.note(ctx.state, _note(ctx, _mr(ctx))))


def _body(ctx: Ctx, required: bool) -> str | None:
    body = ctx.params.get("body")
    if body is None:
        if required:
            raise missing("body")
        return None
    body = str(body)
    if not body.strip():
        raise ApiError(400, {"error": "body is empty"})
    if len(body) > NOTE_MAX_CHARS:
        raise bad_request(
            f'400 Bad request - Note {{:note=>["is too long (maximum is {NOTE_MAX_CHARS} '
            'characters)"]}')
    return body


@router.add("POST", "/projects/:id/merge_requests/:iid/notes", auth=True)
def create_note(ctx: Ctx) -> Response:
    body = _body(ctx, required=True)
    assert body is not None
    mr = _mr(ctx)
    note = ctx.state.add_note(ctx.proj.id, mr.iid, body, author=ctx.me,
                              internal=ctx.flag("internal") or ctx.flag("confidential"))
    return json_response(E.note(ctx.state, note), 201)


@router.add("PUT", "/projects/:id/merge_requests/:iid/notes/:note_id", auth=True)
def update_note(ctx: Ctx) -> Response:
    note = _note(ctx, _mr(ctx))
    body = _body(ctx, required=False)
    if note.author_id != ctx.me.id or note.system:
        raise forbidden()
    if body is not None and body != note.body:
        note.body = body
        note.updated_at = now()
    return json_response(E.note(ctx.state, note))


@router.add("DELETE", "/projects/:id/merge_requests/:iid/notes/:note_id", auth=True)
def delete_note(ctx: Ctx) -> Response:
    note = _note(ctx, _mr(ctx))
    if note.author_id != ctx.me.id and ctx.me.access_level < 40:
        raise forbidden()
    del ctx.proj.notes[note.id]
    return Response(204)


# ---- uploads --------------------------------------------------------------------------------
@router.add("POST", "/projects/:id/uploads", auth=True)
def upload(ctx: Ctx) -> Response:
    ctx.require(30)
    if "file" not in ctx.files:
        raise missing("file")
    filename, content_type, data = ctx.files["file"]
    # CarrierWave keeps the base name and replaces anything but word chars, ".", "-", "+".
    name = re.sub(r"[^\w.\-+]", "_", re.split(r"[/\\]", filename)[-1]) or "file"
    secret = secrets.token_hex(16)
    guessed = mimetypes.guess_type(name)[0]
    record = Upload(id=ctx.state.next_id("upload"), project_id=ctx.proj.id, secret=secret,
                    filename=name, data=data, content_type=guessed or content_type)
    ctx.proj.uploads[secret] = record
    url = f"/uploads/{secret}/{name}"
    alt = name.rsplit(".", 1)[0]
    image = (guessed or "").startswith("image/")
    return json_response({"id": record.id, "alt": alt, "url": url,
                          "full_path": f"/-/project/{ctx.proj.id}{url}",
                          "markdown": f"{'!' if image else ''}[{alt}]({url})"}, 201)
