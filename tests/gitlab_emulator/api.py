"""Request/response plumbing shared by the route modules: errors, params, pagination."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from .model import Job, Project, User
from .state import State

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
TOTALS_LIMIT = 10_000


class ApiError(Exception):
    """An error answer: `payload` is JSON-encoded unless it is bytes."""

    def __init__(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        super().__init__(f"{status}: {payload}")
        self.status = status
        self.payload = payload
        self.content_type = content_type


def not_found(what: str = "") -> ApiError:
    return ApiError(404, {"message": f"404 {what} Not Found" if what else "404 Not Found"})


def bad_request(message: Any) -> ApiError:
    return ApiError(400, {"message": message})


def missing(name: str) -> ApiError:
    """Grape's answer for a missing required parameter."""
    return ApiError(400, {"error": f"{name} is missing"})


def forbidden(message: str = "403 Forbidden") -> ApiError:
    return ApiError(403, {"message": message})


def unauthorized() -> ApiError:
    return ApiError(401, {"message": "401 Unauthorized"})


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json", dict(headers or {}))


@dataclass
class Ctx:
    """One API call: the parsed request plus who is calling and which project it targets."""

    state: State
    method: str
    path: str
    host: str
    query: dict[str, list[str]]
    params: dict[str, Any]
    files: dict[str, tuple[str, str, bytes]]
    match: dict[str, str]
    user: User | None = None
    job: Job | None = None
    project: Project | None = None
    body: bytes = b""               # the raw request body (package uploads are raw PUTs)

    @property
    def proj(self) -> Project:
        assert self.project is not None, "route without :id"
        return self.project

    @property
    def me(self) -> User:
        if self.user is None:
            raise unauthorized()
        return self.user

    def require(self, level: int, message: str = "403 Forbidden") -> User:
        """The caller must be a user with at least this access level on the project."""
        if self.user is None or self.user.access_level < level:
            raise forbidden(message)
        return self.user

    def param(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name, default)
        return default if value is None else value

    def required(self, name: str) -> Any:
        if self.params.get(name) is None:
            raise missing(name)
        return self.params[name]

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.params.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "t")

    def choice(self, name: str, values: Sequence[str], default: str) -> str:
        value = str(self.param(name, default))
        if value not in values:
            raise ApiError(400, {"error": f"{name} does not have a valid value"})
        return value


def paginate(ctx: Ctx, items: list[T], render: Callable[[T], Any],
             keep: Callable[[T], bool] | None = None) -> Response:
    """Offset pagination with GitLab's headers; `keep` drops items *after* paging (short pages)."""
    try:
        page = max(int(ctx.param("page", 1)), 1)
        per_page = int(ctx.param("per_page", DEFAULT_PER_PAGE))
    except ValueError as exc:
        raise ApiError(400, {"error": "page is invalid"}) from exc
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    total = len(items)
    pages = max(math.ceil(total / per_page), 1)
    chunk = items[(page - 1) * per_page: page * per_page]
    shown = [render(item) for item in chunk if keep is None or keep(item)]
    has_next = page * per_page < total

    def link(number: int) -> str:
        query = {key: values[-1] for key, values in ctx.query.items()}
        query.update(page=str(number), per_page=str(per_page))
        return f"http://{ctx.host}{ctx.path}?{urlencode(sorted(query.items()))}"

    links = []
    if page > 1:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if has_next:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    headers = {"x-page": str(page), "x-per-page": str(per_page),
               "x-next-page": str(page + 1) if has_next else "",
               "x-prev-page": str(page - 1) if page > 1 else ""}
    if total <= TOTALS_LIMIT:
        links.append(f'<{link(pages)}>; rel="last"')
        headers.update({"x-total": str(total), "x-total-pages": str(pages)})
    headers["Link"] = ", ".join(links)
    return json_response(shown, headers=headers)


def sort_items(ctx: Ctx, items: list[T], keys: dict[str, Callable[[T], Any]],
               default_key: str, default_sort: str = "desc") -> list[T]:
    order_by = ctx.choice("order_by", list(keys), default_key)
    sort = ctx.choice("sort", ["asc", "desc"], default_sort)
    return sorted(items, key=keys[order_by], reverse=sort == "desc")


ID = r"(?P<id>[^/]+)"


def route_regex(template: str) -> re.Pattern[str]:
    """'/projects/:id/wikis/:slug' -> a regex over the raw (still %-encoded) path."""
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"(?P<{name}>.+)" if m.group(0).startswith("*") else f"(?P<{name}>[^/]+)"

    return re.compile("^/api/v4" + re.sub(r"[:*](\w+)", repl, template) + "$")


Handler = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    job_token: bool = False  # GitLab's `route_setting :authentication, job_token_allowed: true`
    auth: bool = False  # `authenticate!`: anonymous callers get 401


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, *, job_token: bool = False,
            auth: bool = False) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, route_regex(template), handler, job_token, auth))
            return handler

        return register
