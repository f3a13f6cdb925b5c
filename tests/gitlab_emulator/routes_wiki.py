"""Project wiki pages (lib/api/wikis.rb). Job tokens are not accepted here."""

from __future__ import annotations

from urllib.parse import unquote

from . import entities as E
from .api import ApiError, Ctx, Response, Router, json_response, not_found
from .model import WikiPage, now
from .slugs import directory, sluggify, squish_title, wiki_title

router = Router()
FORMATS = ["markdown", "rdoc", "asciidoc", "org"]
RENAME_TAKEN = "There is already a page with the same title in that path."
DUPLICATE = "Duplicate page: A page with that title already exists"


def _validation(field: str, message: str) -> ApiError:
    return ApiError(400, {"message": {field: [message]}})


def _page(ctx: Ctx) -> WikiPage:
    page = ctx.proj.wiki.get(unquote(ctx.match["slug"]))
    if page is None:
        raise not_found("Wiki Page")
    return page


def _check_title(title: str) -> None:
    *dirs, name = title.split("/")
    if len(name.encode()) > 245:
        raise _validation("title", "exceeds the limit of 245 bytes")
    for part in dirs:
        if len(part.encode()) > 255:
            raise _validation("title",
                              f'exceeds the limit of 255 bytes for directory name "{part}"')


def _taken(ctx: Ctx, slug: str, ignore: str | None = None) -> bool:
    return any(s.lower() == slug.lower() for s in ctx.proj.wiki if s != ignore)


@router.add("GET", "/projects/:id/wikis")
def list_pages(ctx: Ctx) -> Response:
    content = ctx.flag("with_content")
    pages = sorted(ctx.proj.wiki.values(), key=lambda p: p.slug)
    return json_response([E.wiki_page(p, content) for p in pages])


@router.add("GET", "/projects/:id/wikis/:slug")
def get_page(ctx: Ctx) -> Response:
    return json_response(E.wiki_page(_page(ctx)))


@router.add("POST", "/projects/:id/wikis")
def create_page(ctx: Ctx) -> Response:
    title, content = ctx.required("title"), ctx.required("content")
    fmt = ctx.choice("format", FORMATS, "markdown")
    ctx.require(30)
    title = squish_title(str(title))
    if not title.strip("/ "):
        raise _validation("title", "can't be blank")
    _check_title(title)
    slug = sluggify(title)
    if _taken(ctx, slug):
        raise _validation("base", DUPLICATE)
    page = WikiPage(slug=slug, title=wiki_title(slug), content=str(content), format=fmt)
    ctx.proj.wiki[slug] = page
    return json_response(E.wiki_page(page), 201)


@router.add("PUT", "/projects/:id/wikis/:slug")
def update_page(ctx: Ctx) -> Response:
    if all(ctx.params.get(k) is None for k in ("title", "content", "format")):
        raise ApiError(400, {"error": "content, title, format are missing, "
                                      "at least one parameter must be provided"})
    fmt = ctx.choice("format", FORMATS, "markdown") if ctx.params.get("format") else None
    ctx.require(30)
    page = _page(ctx)
    title = ctx.params.get("title")
    if title:
        title = squish_title(str(title))
        if title.startswith("/"):
            title = title[1:]
        elif "/" not in title and directory(page.slug):
            title = f"{directory(page.slug)}/{title}"
        _check_title(title)
        new_slug = sluggify(title)
        if new_slug != page.slug:
            if _taken(ctx, new_slug, ignore=page.slug):
                raise _validation("base", RENAME_TAKEN)
            del ctx.proj.wiki[page.slug]
            page.slug, page.title = new_slug, wiki_title(new_slug)
            ctx.proj.wiki[new_slug] = page
    if ctx.params.get("content") is not None:
        page.content = str(ctx.params["content"])
    if fmt:
        page.format = fmt
    page.updated_at = now()
    return json_response(E.wiki_page(page))


@router.add("DELETE", "/projects/:id/wikis/:slug")
def delete_page(ctx: Ctx) -> Response:
    ctx.require(40)
    page = _page(ctx)
    del ctx.proj.wiki[page.slug]
    return Response(204)
