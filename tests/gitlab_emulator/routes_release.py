"""Releases and release asset links (lib/api/releases.rb, release/links.rb); both accept job
tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

from . import entities as E
from .api import (
    ApiError,
    Ctx,
    Response,
    Router,
    bad_request,
    json_response,
    paginate,
    sort_items,
)
from .model import Release, ReleaseLink, now, parse_time
from .routes_repo import create_tag_or_400

router = Router()
LINK_TYPES = ["other", "runbook", "image", "package"]
LINKS_404 = "404 Not found"  # the links API finds the release with find_by_tag!


def _release(ctx: Ctx, not_found_message: str = "404 Not Found") -> Release:
    release = ctx.proj.releases.get(unquote(ctx.match["tag"]))
    if release is None:
        raise ApiError(404, {"message": not_found_message})
    return release


def _time(ctx: Ctx, name: str) -> Any:
    try:
        return parse_time(ctx.params.get(name))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, {"error": f"{name} is invalid"}) from exc


def link_errors(release: Release, name: Any, url: Any, path: Any = None,
                ignore: int | None = None) -> list[str]:
    """`Releases::Link` validations as ActiveRecord full messages: url, name and filepath
    (`direct_asset_path`) are each unique per release (GL: app/models/releases/link.rb,
    `uniqueness: { scope: :release }`; a blank filepath is allowed and not compared)."""
    errors = []
    others = [lk for lk in release.links if lk.id != ignore]
    if url is not None:
        if urlparse(str(url)).scheme not in ("http", "https", "ftp"):
            errors.append("Url is blocked: Only allowed schemes are http, https, ftp")
        elif any(lk.url == url for lk in others):
            errors.append("Url has already been taken")
    if name is not None and any(lk.name == name for lk in others):
        errors.append("Name has already been taken")
    if path and any(lk.direct_asset_path == path for lk in others):
        errors.append("Filepath has already been taken")
    return errors


def duplicate_errors(release: Release, links: list[dict[str, Any]]) -> list[str]:
    """The links of one create request among themselves: GL app/models/release.rb
    `validates :links, nested_attributes_duplicates: { scope: :release, child_attributes:
    %i[name url filepath] }` and app/validators/nested_attributes_duplicates_validator.rb
    ("Links have duplicate values (a, b) for #<Release:0x…> scope", one error per attribute;
    the message shape as GitLab answers it: semantic-release/gitlab#722)."""
    errors = []
    for keys in (("name",), ("url",), ("direct_asset_path", "filepath")):
        values = [next((str(d[k]) for k in keys if d.get(k)), "") for d in links]
        seen = sorted({v for v in values if v and values.count(v) > 1}, key=values.index)
        if seen:
            errors.append(f"Links have duplicate values ({', '.join(seen)}) for "
                          f"#<Release:0x{id(release):016x}> scope")
    return errors


def _new_link(ctx: Ctx, release: Release, data: dict[str, Any]) -> ReleaseLink | list[str]:
    """Add a link, or return the validation errors (nothing is added then)."""
    for key in ("name", "url"):
        if not data.get(key):
            raise ApiError(400, {"error": f"{key} is missing"})
    link_type = data.get("link_type") or "other"
    if link_type not in LINK_TYPES:
        raise ApiError(400, {"error": "link_type does not have a valid value"})
    path = data.get("direct_asset_path") or data.get("filepath")
    errors = link_errors(release, data["name"], data["url"], path)
    if errors:
        return errors
    link = ReleaseLink(id=ctx.state.next_id("link"), name=str(data["name"]), url=str(data["url"]),
                       direct_asset_path=path, link_type=link_type)
    release.links.append(link)
    return link


@router.add("GET", "/projects/:id/releases", job_token=True)
def list_releases(ctx: Ctx) -> Response:
    releases = sort_items(ctx, list(ctx.proj.releases.values()),
                          {"released_at": lambda r: (r.released_at, r.created_at),
                           "created_at": lambda r: (r.created_at, r.released_at)}, "released_at")
    return paginate(ctx, releases, lambda r: E.release(ctx.state, ctx.proj, r))


@router.add("GET", "/projects/:id/releases/:tag", job_token=True)
def get_release(ctx: Ctx) -> Response:
    return json_response(E.release(ctx.state, ctx.proj, _release(ctx)))


def _milestones(ctx: Ctx) -> list[str] | None:
    titles = ctx.params.get("milestones")
    if titles is None:
        return None
    titles = [str(t) for t in (titles if isinstance(titles, list) else [titles])]
    unknown = [t for t in titles if t not in ctx.proj.milestones]
    if unknown:
        raise bad_request(f"Milestone(s) not found: {', '.join(unknown)}")
    return titles


@router.add("POST", "/projects/:id/releases", job_token=True)
def create_release(ctx: Ctx) -> Response:
    """Releases::CreateService: the tag is created before the release is validated, so a
    release that fails validation (400) leaves its new tag behind, as on GitLab."""
    tag_name = str(ctx.required("tag_name"))
    released_at = _time(ctx, "released_at")
    ctx.require(30, "Access Denied")
    project = ctx.proj
    if tag_name in project.releases:
        raise ApiError(409, {"message": "Release already exists"})
    milestones = _milestones(ctx) or []
    if tag_name not in project.tags:
        ref = ctx.params.get("ref")
        if not ref:
            raise ApiError(422, {"message": "Ref is not specified"})
        create_tag_or_400(ctx, tag_name, str(ref), ctx.params.get("tag_message"))
    release = Release(tag_name=tag_name, project_id=project.id,
                      name=str(ctx.param("name", tag_name)),
                      description=str(ctx.param("description", "")),
                      sha=project.tags[tag_name].target, author_id=ctx.me.id,
                      released_at=released_at or now(), milestones=milestones)
    links = (ctx.params.get("assets") or {}).get("links") or []
    made: list[ReleaseLink] = []
    for data in links:
        # each new link's own uniqueness check reads the database, which has none of them yet
        link = _new_link(ctx, release, data)
        if isinstance(link, list):
            raise bad_request("Validation failed: " + ", ".join(
                "Links " + error[0].lower() + error[1:] for error in link))
        made.append(release.links.pop())
    duplicates = duplicate_errors(release, links)
    if duplicates:    # checked only when every link is valid on its own, as Rails does
        raise bad_request("Validation failed: " + ", ".join(duplicates))
    release.links = made
    project.releases[tag_name] = release
    return json_response(E.release(ctx.state, project, release), 201)


@router.add("PUT", "/projects/:id/releases/:tag", job_token=True)
def update_release(ctx: Ctx) -> Response:
    released_at = _time(ctx, "released_at")
    ctx.require(30, "Access Denied")
    release = _release(ctx)
    milestones = _milestones(ctx)
    if ctx.params.get("name") is not None:
        release.name = str(ctx.params["name"])
    if ctx.params.get("description") is not None:
        release.description = str(ctx.params["description"])
    if released_at is not None:
        release.released_at = released_at
    if milestones is not None:
        release.milestones = milestones
    return json_response(E.release(ctx.state, ctx.proj, release))


@router.add("DELETE", "/projects/:id/releases/:tag", job_token=True)
def delete_release(ctx: Ctx) -> Response:
    ctx.require(40, "Access Denied")
    release = _release(ctx)
    data = E.release(ctx.state, ctx.proj, release)
    del ctx.proj.releases[release.tag_name]
    return json_response(data)


# ---- asset links ----------------------------------------------------------------------------
def _link(ctx: Ctx, release: Release) -> ReleaseLink:
    for link in release.links:
        if str(link.id) == ctx.match["link_id"]:
            return link
    raise ApiError(404, {"message": "404 Not found"})  # ActiveRecord::RecordNotFound


@router.add("GET", "/projects/:id/releases/:tag/assets/links", job_token=True)
def list_links(ctx: Ctx) -> Response:
    release = _release(ctx, LINKS_404)
    links = sorted(release.links, key=lambda lk: lk.id, reverse=True)
    return paginate(ctx, links, lambda lk: E.link(ctx.proj, release, lk))


@router.add("POST", "/projects/:id/releases/:tag/assets/links", job_token=True)
def create_link(ctx: Ctx) -> Response:
    ctx.require(30)
    release = _release(ctx, LINKS_404)
    link = _new_link(ctx, release, ctx.params)
    if isinstance(link, list):
        raise bad_request(link)
    return json_response(E.link(ctx.proj, release, link), 201)


@router.add("GET", "/projects/:id/releases/:tag/assets/links/:link_id", job_token=True)
def get_link(ctx: Ctx) -> Response:
    release = _release(ctx, LINKS_404)
    return json_response(E.link(ctx.proj, release, _link(ctx, release)))


@router.add("PUT", "/projects/:id/releases/:tag/assets/links/:link_id", job_token=True)
def update_link(ctx: Ctx) -> Response:
    if ctx.params.get("name") is None and ctx.params.get("url") is None:
        raise ApiError(400, {"error": "name, url are missing, at least one parameter must be "
                                      "provided"})
    ctx.require(30)
    release = _release(ctx, LINKS_404)
    link = _link(ctx, release)
    errors = link_errors(release, ctx.params.get("name"), ctx.params.get("url"),
                         ctx.params.get("direct_asset_path"), ignore=link.id)
    if errors:
        raise bad_request(errors)
    link.name = str(ctx.param("name", link.name))
    link.url = str(ctx.param("url", link.url))
    link.direct_asset_path = ctx.param("direct_asset_path", link.direct_asset_path)
    link.link_type = str(ctx.param("link_type", link.link_type))
    return json_response(E.link(ctx.proj, release, link))


@router.add("DELETE", "/projects/:id/releases/:tag/assets/links/:link_id", job_token=True)
def delete_link(ctx: Ctx) -> Response:
    ctx.require(30)
    release = _release(ctx, LINKS_404)
    link = _link(ctx, release)
    release.links.remove(link)
    return json_response(E.link(ctx.proj, release, link))
