"""The one module that talks to GitLab: a small adapter over python-gitlab.

Every python-gitlab or transport error leaves as :class:`runner.errors.GitLabError` with the
message ``"<verb> <what>: <code> <message>"`` (never a token). Transient failures are retried by
python-gitlab itself (429 obeying ``Retry-After``, 5xx, resets, timeouts) with a bounded number of
retries; a response hook caps each ``Retry-After`` so the total wait stays bounded. With
``dry_run`` every write is printed (method, path, JSON body) and not sent; reads still happen.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import IO, Any, ParamSpec, TypeVar
from urllib.parse import quote

import requests

from runner.errors import GitLabError, MissingContextError
from runner.masking import masker_for

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_RETRIES = 8      # exponential backoff 0.1 s * 2**n: about 25 s in all
DEFAULT_MAX_RETRY_AFTER = 30  # seconds; a larger Retry-After is capped to this
DEFAULT_TIMEOUT = 30.0
MAX_RETRIES_ENV = "DS_GITLAB_MAX_RETRIES"
TIMEOUT_ENV = "DS_GITLAB_TIMEOUT"
# GitLab finishes a request whose client went away, but ends any request after 60 s by default
# (rack-timeout, gitlab-org/gitlab-foss!28405; omnibus docs settings/puma.md "Worker timeout").
GITLAB_REQUEST_LIMIT = 60.0


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    system: bool
    author_id: int | None


@dataclass(frozen=True)
class MergeRequest:
    iid: int
    target_branch: str
    state: str
    web_url: str


@dataclass(frozen=True)
class WikiPage:
    slug: str
    title: str
    content: str


@dataclass(frozen=True)
class Release:
    tag_name: str
    name: str
    description: str


@dataclass(frozen=True)
class ReleaseLink:
    id: int
    name: str
    url: str
    link_type: str
    direct_asset_url: str = ""   # .../-/releases/<tag>/downloads<direct_asset_path>, else url


@dataclass(frozen=True)
class Bridge:
    """A trigger job of a pipeline and the pipeline it started (None: none was created)."""

    id: int
    name: str
    status: str
    downstream_id: int | None
    downstream_project_id: int | None
    downstream_status: str
    downstream_url: str


@dataclass(frozen=True)
class PipelineJob:
    id: int
    name: str
    status: str
    web_url: str
    archive_size: int | None       # bytes of the artifacts archive; None when it has none


@dataclass(frozen=True)
class ProjectJob:
    """A job from the project's job list, with the pipeline it ran in (a child pipeline for a
    job of one) and the commit."""

    id: int
    name: str
    ref: str
    tag: bool
    status: str
    web_url: str
    has_archive: bool
    sha: str
    commit_url: str
    pipeline_id: int
    pipeline_status: str
    pipeline_source: str
    pipeline_url: str


@dataclass(frozen=True)
class Pipeline:
    """A pipeline of the project's pipeline list (``Entities::Ci::PipelineBasic``)."""

    id: int
    ref: str
    status: str
    source: str
    web_url: str
    updated_at: str


def _pipeline(data: dict[str, Any]) -> Pipeline:
    return Pipeline(int(data["id"]), str(data.get("ref") or ""), str(data.get("status") or ""),
                    str(data.get("source") or ""), str(data.get("web_url") or ""),
                    str(data.get("updated_at") or ""))


class _TooLarge(Exception):
    pass


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return max(0, int(raw))
    except ValueError:
        raise GitLabError(f"{name} must be a whole number, got {raw!r}") from None


def _message(e: Exception) -> str:
    from gitlab.exceptions import GitlabError as PGError

    if isinstance(e, PGError):
        msg = e.error_message
        if isinstance(msg, bytes):
            msg = msg.decode("utf-8", "replace")
        if not isinstance(msg, str):
            msg = json.dumps(msg, sort_keys=True)
        code = e.response_code
        text = " ".join(re.sub(r"<[^>]*>", " ", str(msg)).split())[:300]  # nginx HTML pages
        hint = ""
        if code == 401:
            hint = " (check that GITLAB_TOKEN is valid and not expired)"
        elif code == 403:
            hint = " (the token's user lacks permission, or this token type is not accepted)"
        elif code == 429 or (code is not None and code >= 500):
            hint = " (gave up after retries)"
        return f"{code} {text}{hint}" if code else text
    return f"{type(e).__name__}: {e} (gave up after retries)"


def _translatable(e: Exception) -> bool:
    from gitlab.exceptions import GitlabError as PGError

    return isinstance(e, PGError | requests.RequestException)


def _errors(verb: str, what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Translate python-gitlab and transport errors into GitLabError, once, in one place."""

    def translate(e: Exception) -> GitLabError:
        return GitLabError(f"{verb} {what}: {masker_for().mask(_message(e))}")

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    yield from fn(*args, **kwargs)
                except Exception as e:
                    if _translatable(e):
                        raise translate(e) from e
                    raise

            return gen

        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                if _translatable(e):
                    raise translate(e) from e
                raise

        return inner

    return wrap


def _code(e: Exception) -> int | None:
    return getattr(e, "response_code", None)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise GitLabError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise GitLabError(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


def _maybe_done(e: Exception) -> bool:
    """Whether a failed request may still have been carried out by GitLab: its answer was
    lost (timeout, dropped connection) or it failed on GitLab's side (5xx)."""
    if isinstance(e, requests.ConnectionError | requests.Timeout
                  | requests.exceptions.ChunkedEncodingError):
        return True
    code = _code(e)
    return code is not None and code >= 500


def _look_window(took: float) -> float:
    """How long to keep looking for what a failed create may still make: about as long again
    as it ran (at least 1 s), never past GitLab's own limit on a request."""
    return max(1.0, min(took, GITLAB_REQUEST_LIMIT - took))


class _RetryAfterCap:
    """A requests response hook: make the wait python-gitlab will sleep finite and bounded
    (``Retry-After`` as seconds or HTTP date, else ``RateLimit-Reset``; at most ``cap``)."""

    def __init__(self, cap: float) -> None:
        self.cap = cap
        self.last: float | None = None   # the last (capped) wait a 429/5xx asked for

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code != 429 and response.status_code < 500:
            return
        wait: float | None = None
        raw = response.headers.get("Retry-After")
        if raw is not None:
            try:
                wait = float(raw)
            except ValueError:
                try:
                    wait = parsedate_to_datetime(raw).timestamp() - time.time()
                except (TypeError, ValueError):
                    wait = None
        elif response.headers.get("RateLimit-Reset"):
            try:
                wait = float(response.headers["RateLimit-Reset"]) - time.time()
            except ValueError:
                wait = None
        self.last = None
        if wait is not None:
            self.last = float(min(max(math.ceil(wait), 0), self.cap))
            response.headers["Retry-After"] = str(int(self.last))
        elif raw is not None:
            del response.headers["Retry-After"]


class GitLabClient:
    """What ds-runner needs from one GitLab project."""

    def __init__(self, url: str, project: str | int, *, private_token: str | None = None,
                 job_token: str | None = None, dry_run: bool = False,
                 echo: Callable[[str], None] = print, max_retries: int | None = None,
                 max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
                 timeout: float | None = None) -> None:
        import gitlab

        if not url:
            raise MissingContextError("no GitLab URL: set CI_SERVER_URL or pass --server-url")
        if not project:
            raise MissingContextError("no GitLab project: set CI_PROJECT_ID or pass --project")
        session = requests.Session()
        self._retry_after = _RetryAfterCap(max_retry_after)
        session.hooks["response"].append(self._retry_after)
        if timeout is None:
            timeout = _env_float(TIMEOUT_ENV, DEFAULT_TIMEOUT)
        self.gl = gitlab.Gitlab(url=url, private_token=private_token or None,
                                job_token=None if private_token else job_token or None,
                                retry_transient_errors=True, timeout=timeout, session=session)
        self.project_ref = project
        self.project = self.gl.projects.get(project, lazy=True)
        self.dry_run = dry_run
        self.echo = echo
        if max_retries is None:
            max_retries = _env_int(MAX_RETRIES_ENV, DEFAULT_MAX_RETRIES)
        self.retry: dict[str, Any] = {"max_retries": max_retries, "obey_rate_limit": True,
                                      "retry_transient_errors": True}
        self._masker = masker_for(private_token, job_token)
        self._path = f"/projects/{quote(str(project), safe='')}"

    def _create_once(self, what: str, create: Callable[[dict[str, Any]], R],
                     find: Callable[[], R | None]) -> R:
        """Create something exactly once. GitLab finishes a request whose client went away,
        so a create whose answer was lost (timeout, dropped connection) or that failed with a
        5xx may still make its object: wait for it, look for it with ``find``, and post again
        only when it did not appear. 429 (nothing was done) is retried by python-gitlab."""
        no_blind_retry = {**self.retry, "retry_transient_errors": False}
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                return create(no_blind_retry)
            except Exception as e:
                if not _maybe_done(e) or attempt >= self.retry["max_retries"]:
                    raise
                took = time.monotonic() - started
                why = _code(e) or type(e).__name__
            attempt += 1
            deadline, wait = time.monotonic() + _look_window(took), 0.25
            while True:
                time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
                found = find()
                if found is not None:
                    logger.info("create %s failed (%s) but GitLab made it anyway; using it",
                                what, why)
                    return found
                if time.monotonic() >= deadline:
                    break
                wait *= 2
            logger.info("create %s failed (%s) and it did not appear; retry %d", what, why,
                        attempt)

    def _dry(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        text = f"[dry-run] {method} {self._path}{path}"
        if body is not None:
            text += "\n" + json.dumps(body, indent=2, ensure_ascii=False)
        self.echo(self._masker.mask(text))

    # -- users and merge requests ---------------------------------------------------------
    @_errors("get", "current user")
    def current_user_id(self) -> int:
        data = self.gl.http_get("/user", **self.retry)
        assert isinstance(data, dict)
        return int(data["id"])

    @_errors("get", "merge request")
    def merge_request(self, iid: int) -> MergeRequest:
        mr = self.project.mergerequests.get(iid, **self.retry)
        return MergeRequest(int(mr.iid), str(mr.target_branch), str(mr.state), str(mr.web_url))

    @_errors("list", "merge requests of the commit")
    def open_merge_requests_for_commit(self, sha: str) -> list[MergeRequest]:
        from gitlab.exceptions import GitlabError as PGError

        commit = self.project.commits.get(sha, lazy=True)
        try:
            found = list(commit.merge_requests(iterator=True, **self.retry))
        except PGError as e:
            if _code(e) == 404:      # a commit GitLab does not know has no merge request
                return []
            raise
        return [MergeRequest(int(m["iid"]), str(m["target_branch"]), str(m["state"]),
                             str(m.get("web_url", ""))) for m in found if m["state"] == "opened"]

    @_errors("list", "merge request notes")
    def mr_notes(self, iid: int) -> Iterator[Note]:
        """Every note, following ``Link: rel=next`` (pages may be short), newest first."""
        mr = self.project.mergerequests.get(iid, lazy=True)
        for n in mr.notes.list(iterator=True, per_page=100, **self.retry):
            author = getattr(n, "author", None) or {}
            yield Note(int(n.id), str(n.body or ""), bool(getattr(n, "system", False)),
                       author.get("id"))

    @_errors("create", "merge request note")
    def create_mr_note(self, iid: int, body: str, *, marker: str | None = None) -> int | None:
        """Post a note; after a lost answer, the token user's note holding ``marker`` (or
        this exact body) counts as the one this call made."""
        if self.dry_run:
            self._dry("POST", f"/merge_requests/{iid}/notes", {"body": body})
            return None
        mr = self.project.mergerequests.get(iid, lazy=True)

        def find() -> int | None:
            me = self.current_user_id()
            return next((n.id for n in self.mr_notes(iid) if not n.system
                         and n.author_id == me and (marker in n.body if marker
                                                    else n.body == body)), None)

        return self._create_once("merge request note", lambda retry: int(
            mr.notes.create({"body": body}, **retry).id), find)

    @_errors("update", "merge request note")
    def update_mr_note(self, iid: int, note_id: int, body: str) -> None:
        if self.dry_run:
            self._dry("PUT", f"/merge_requests/{iid}/notes/{note_id}", {"body": body})
            return
        mr = self.project.mergerequests.get(iid, lazy=True)
        mr.notes.update(note_id, {"body": body}, **self.retry)

    @_errors("upload", "file")
    def upload(self, filename: str, data: bytes) -> str:
        """Upload through the project uploads API; returns the relative ``/uploads/...`` URL."""
        if self.dry_run:
            self.echo(self._masker.mask(f"[dry-run] POST {self._path}/uploads "
                                        f"(multipart file={filename}, {len(data)} bytes)"))
            return f"/uploads/dry-run/{filename}"
        # python-gitlab sends multipart bodies as a one-shot stream, so its own retries would
        # resend an empty body; retry here with a fresh request each time, same policy.
        from gitlab.exceptions import GitlabError as PGError

        attempt = 0
        while True:
            try:
                result = self.project.upload(filename, filedata=data, max_retries=0,
                                             obey_rate_limit=False,
                                             retry_transient_errors=False)
                return str(result["url"])
            except (PGError, requests.ConnectionError, requests.Timeout) as e:
                code = _code(e)
                transient = code is None or code == 429 or code >= 500
                if not transient or attempt >= self.retry["max_retries"]:
                    raise
                wait = 0.1 * 2**attempt
                if code == 429 and self._retry_after.last is not None:
                    wait = self._retry_after.last
                attempt += 1
                logger.info("upload of %s failed (%s); retry %d in %.1f s", filename,
                            code or type(e).__name__, attempt, wait)
                time.sleep(wait)

    # -- wiki -------------------------------------------------------------------------------
    @_errors("get", "wiki page")
    def wiki_get(self, slug: str) -> WikiPage | None:
        from gitlab.exceptions import GitlabGetError

        try:
            page = self.project.wikis.get(slug, **self.retry)
        except GitlabGetError as e:
            if _code(e) == 404:
                return None
            raise
        return WikiPage(str(page.slug), str(page.title), str(page.content or ""))

    @_errors("list", "wiki pages")
    def wiki_list(self) -> list[WikiPage]:
        pages = self.project.wikis.list(get_all=True, **self.retry)
        return [WikiPage(str(p.slug), str(p.title), "") for p in pages]

    @_errors("create", "wiki page")
    def wiki_create(self, title: str, content: str) -> bool:
        """Create a page; False when it already exists (GitLab answers 400 for a duplicate)."""
        from gitlab.exceptions import GitlabCreateError

        body = {"title": title, "content": content, "format": "markdown"}
        if self.dry_run:
            self._dry("POST", "/wikis", body)
            return True
        slug = title.replace(" ", "-")     # GitLab's slug of a plain title (app/models/wiki.rb)
        try:
            self._create_once("wiki page", lambda retry: self.project.wikis.create(body, **retry),
                              lambda: self.wiki_get(slug))
        except GitlabCreateError as e:
            if _code(e) == 400 and "exists" in _message(e).lower():
                return False
            raise
        return True

    @_errors("update", "wiki page")
    def wiki_update(self, slug: str, content: str) -> None:
        if self.dry_run:
            self._dry("PUT", f"/wikis/{quote(slug, safe='')}", {"content": content})
            return
        self.project.wikis.update(slug, {"content": content}, **self.retry)

    # -- releases, tags, artifacts ------------------------------------------------------------
    @_errors("get", "release")
    def release_get(self, tag: str) -> Release | None:
        from gitlab.exceptions import GitlabGetError

        try:
            rel = self.project.releases.get(tag, **self.retry)
        except GitlabGetError as e:
            if _code(e) == 404:
                return None
            raise
        return Release(str(rel.tag_name), str(rel.name or ""), str(rel.description or ""))

    @_errors("list", "releases")
    def releases(self) -> Iterator[Release]:
        """Releases newest first (GitLab's default: released_at, desc)."""
        for rel in self.project.releases.list(iterator=True, **self.retry):
            yield Release(str(rel.tag_name), str(rel.name or ""), str(rel.description or ""))

    @_errors("create", "release")
    def release_create(self, tag: str, name: str, description: str, ref: str | None,
                       links: list[dict[str, str]]) -> bool:
        """Create a release; False when it already exists (GitLab answers 409)."""
        from gitlab.exceptions import GitlabCreateError

        body: dict[str, Any] = {"tag_name": tag, "name": name, "description": description}
        if ref:
            body["ref"] = ref
        if links:
            body["assets"] = {"links": links}
        if self.dry_run:
            self._dry("POST", "/releases", body)
            return True

        def find() -> bool | None:     # ours if it carries our description, else another's
            found = self.release_get(tag)
            return None if found is None else found.description == description

        try:
            return self._create_once("release", lambda retry: self.project.releases.create(
                body, **retry) is not None, find)
        except GitlabCreateError as e:
            if _code(e) == 409:
                return False
            raise

    @_errors("update", "release")
    def release_update(self, tag: str, name: str, description: str) -> None:
        body = {"name": name, "description": description}
        if self.dry_run:
            self._dry("PUT", f"/releases/{quote(tag, safe='')}", body)
            return
        self.project.releases.update(tag, body, **self.retry)

    @_errors("list", "release links")
    def release_links(self, tag: str) -> list[ReleaseLink]:
        rel = self.project.releases.get(tag, lazy=True)
        return [ReleaseLink(int(ln.id), str(ln.name), str(ln.url),
                            str(getattr(ln, "link_type", "other")),
                            str(getattr(ln, "direct_asset_url", "") or ""))
                for ln in rel.links.list(get_all=True, **self.retry)]

    @_errors("create", "release link")
    def release_link_create(self, tag: str, link: dict[str, str]) -> None:
        if self.dry_run:
            self._dry("POST", f"/releases/{quote(tag, safe='')}/assets/links", link)
            return
        links = self.project.releases.get(tag, lazy=True).links

        def find() -> bool | None:
            return any(ln.name == link["name"] for ln in self.release_links(tag)) or None

        self._create_once("release link", lambda retry: links.create(link, **retry) is not None,
                          find)

    @_errors("update", "release link")
    def release_link_update(self, tag: str, link_id: int, link: dict[str, str]) -> None:
        if self.dry_run:
            self._dry("PUT", f"/releases/{quote(tag, safe='')}/assets/links/{link_id}", link)
            return
        self.project.releases.get(tag, lazy=True).links.update(link_id, link, **self.retry)

    @_errors("download", "job artifact")
    def artifact_file(self, ref: str, path: str, job: str) -> bytes | None:
        """One file of ``job`` in the latest successful pipeline of ``ref`` or its child
        pipelines (GitLab reads no older pipeline: docs/gitlab-facts.md); None when there is
        none."""
        from gitlab.exceptions import GitlabGetError

        try:
            data = self.project.artifacts.raw(ref, path, job, **self.retry)
        except GitlabGetError as e:
            if _code(e) == 404:
                return None
            raise
        return bytes(data)

    # -- starting pipelines (GITLAB_TOKEN: the job token may not; docs/gitlab-facts.md) -------
    @_errors("get", "current user")
    def current_username(self) -> str:
        data = self.gl.http_get("/user", **self.retry)
        assert isinstance(data, dict)
        return str(data["username"])

    @_errors("list", "pipelines")
    def pipelines(self, **filters: str) -> list[Pipeline]:
        """The project's pipelines matching ``filters`` (``ref``, ``source``, ``username``,
        ``scope``, ``updated_after``, ...: GET /projects/:id/pipelines), newest first."""
        found = self.project.pipelines.list(iterator=True, per_page=100, **filters, **self.retry)
        return [_pipeline(p.attributes) for p in found]

    @_errors("list", "pipeline variables")
    def pipeline_variables(self, pipeline_id: int) -> dict[str, str]:
        """``{key: value}`` of the variables a pipeline was created with (only its creator, a
        Developer, or the project's Owner may read them)."""
        pipeline = self.project.pipelines.get(pipeline_id, lazy=True)
        return {str(v.key): str(v.value)
                for v in pipeline.variables.list(get_all=True, **self.retry)}

    @_errors("create", "pipeline")
    def create_pipeline(self, ref: str, variables: dict[str, str],
                        find: Callable[[], Pipeline | None]) -> Pipeline | None:
        """Start a pipeline on ``ref`` with ``variables`` (None in a dry run, which prints the
        request); after a lost answer, ``find`` says whether GitLab made it anyway."""
        body = {"ref": ref, "variables": [{"key": k, "value": v, "variable_type": "env_var"}
                                          for k, v in variables.items()]}
        if self.dry_run:
            self._dry("POST", "/pipeline", body)
            return None
        return self._create_once("pipeline", lambda retry: _pipeline(
            self.project.pipelines.create(body, **retry).attributes), find)

    # -- pipelines, bridges and job artifacts (a token that may list pipeline jobs) ------------
    @_errors("list", "pipeline bridges")
    def pipeline_bridges(self, pipeline_id: int) -> list[Bridge]:
        """The trigger jobs of a pipeline, newest first (every page)."""
        pipeline = self.project.pipelines.get(pipeline_id, lazy=True)
        found = []
        for b in pipeline.bridges.list(iterator=True, per_page=100, **self.retry):
            down = getattr(b, "downstream_pipeline", None) or {}
            found.append(Bridge(
                int(b.id), str(b.name), str(b.status),
                int(down["id"]) if down.get("id") is not None else None,
                int(down["project_id"]) if down.get("project_id") is not None else None,
                str(down.get("status") or ""), str(down.get("web_url") or "")))
        return found

    @_errors("list", "pipeline jobs")
    def pipeline_jobs(self, pipeline_id: int) -> list[PipelineJob]:
        """The jobs of a pipeline (not retried ones), newest first, every page."""
        pipeline = self.project.pipelines.get(pipeline_id, lazy=True)
        found = []
        for j in pipeline.jobs.list(iterator=True, per_page=100, **self.retry):
            archive = next((a for a in getattr(j, "artifacts", None) or []
                            if a.get("file_type") == "archive"), None)
            found.append(PipelineJob(int(j.id), str(j.name), str(j.status),
                                     str(getattr(j, "web_url", "") or ""),
                                     int(archive.get("size") or 0) if archive else None))
        return found

    @_errors("list", "project jobs")
    def project_jobs(self, scope: str, per_page: int = 100) -> Iterator[ProjectJob]:
        """The project's jobs with status ``scope``, newest first, page by page as the caller
        reads on (``GET /projects/:id/jobs?scope[]=``: GitLab filters by status only, and its
        pages carry no totals). Child-pipeline jobs are listed too."""
        for j in self.project.jobs.list(scope=[scope], iterator=True, per_page=per_page,
                                        **self.retry):
            data = j.attributes               # `artifacts` is also a method of ProjectJob
            pipeline = data.get("pipeline") or {}
            commit = data.get("commit") or {}
            sha = str(pipeline.get("sha") or commit.get("id") or "")
            pipeline_url = str(pipeline.get("web_url") or "")
            commit_url = str(commit.get("web_url") or "")
            if not commit_url and "/-/pipelines/" in pipeline_url and sha:
                commit_url = f"{pipeline_url.split('/-/pipelines/')[0]}/-/commit/{sha}"
            yield ProjectJob(
                int(data["id"]), str(data["name"]), str(data.get("ref") or ""),
                bool(data.get("tag")), str(data["status"]), str(data.get("web_url") or ""),
                any(a.get("file_type") == "archive" for a in data.get("artifacts") or []),
                sha, commit_url, int(pipeline.get("id") or 0), str(pipeline.get("status") or ""),
                str(pipeline.get("source") or ""), pipeline_url)

    @_errors("download", "job artifact")
    def job_artifact_file(self, job_id: int, path: str) -> bytes | None:
        """One file of job ``job_id``'s artifacts archive; None when the job has no archive or
        the archive no such file (GitLab answers 404 for both)."""
        from gitlab.exceptions import GitlabGetError

        job = self.project.jobs.get(job_id, lazy=True)
        try:
            data = job.artifact(path, **self.retry)
        except GitlabGetError as e:
            if _code(e) == 404:
                return None
            raise
        return bytes(data)

    @_errors("download", "job artifacts")
    def job_artifacts(self, job_id: int, sink: IO[bytes], *, max_bytes: int) -> int:
        """Stream job ``job_id``'s artifacts archive into ``sink`` (rewound and truncated
        first); returns its size. Over ``max_bytes`` -> GitLabError. A body cut off half-way
        is fetched again, same retry policy; python-gitlab retries the rest."""
        from gitlab.exceptions import GitlabError as PGError

        job = self.project.jobs.get(job_id, lazy=True)
        attempt = 0
        while True:
            sink.seek(0)
            sink.truncate()
            written = 0

            def write(chunk: bytes) -> None:
                nonlocal written
                written += len(chunk)
                if written > max_bytes:
                    raise _TooLarge
                sink.write(chunk)

            try:
                job.artifacts(streamed=True, action=write, chunk_size=1 << 16, **self.retry)
                return written
            except _TooLarge:
                raise GitLabError(f"download job artifacts: the archive of job {job_id} is "
                                  f"larger than the limit of {max_bytes} bytes") from None
            except (PGError, requests.RequestException) as e:
                # only a body cut off half-way; failed requests were retried already
                if written == 0 or attempt >= self.retry["max_retries"]:
                    raise
                attempt += 1
                wait = 0.1 * 2**attempt
                logger.info("download of job %s artifacts broke off after %d bytes (%s); "
                            "retry %d in %.1f s", job_id, written, type(e).__name__, attempt, wait)
                time.sleep(wait)
