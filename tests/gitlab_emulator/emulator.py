"""`GitLabEmulator`: the server plus the Python API tests use to seed and inspect it."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from . import seed as seed_mod
from .api import Response, json_response
from .faults import Faults
from .model import (
    Bridge,
    Job,
    MergeRequest,
    MlModel,
    Note,
    Pipeline,
    Project,
    Release,
    Tag,
    Upload,
    User,
    WikiPage,
)
from .server import Handler, RequestRecord, Server
from .state import State, TimeLike

AnyUser = User | str | None


class GitLabEmulator:
    """A stateful GitLab REST API v4 on 127.0.0.1. Use `GitLabEmulator.start()`."""

    def __init__(self, server: Server) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self._address = (str(host), int(port))
        self.url = f"http://{host!s}:{port}"
        self.api_url = f"{self.url}/api/v4"
        self.state = State(self.url)
        self.faults = Faults()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0) -> GitLabEmulator:
        handler: type[Handler] = type("BoundHandler", (Handler,), {})
        server = Server((host, port), handler)
        emulator = cls(server)
        handler.emulator = emulator
        emulator._thread = threading.Thread(target=server.serve_forever, name="gitlab-emulator",
                                            kwargs={"poll_interval": 0.02}, daemon=True)
        emulator._thread.start()
        return emulator

    def stop(self) -> None:
        """Stop serving. Empty connections wake the accept loop so this takes ~1 ms, not a
        whole poll interval."""
        stopper = threading.Thread(target=self._server.shutdown)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(self._address, timeout=0.5).close()
            stopper.join(0.002)
        self._server.server_close()

    def __enter__(self) -> GitLabEmulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- request log ----------------------------------------------------------------------
    def log(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._log.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._log)

    # ---- seeding --------------------------------------------------------------------------
    def _user(self, user: AnyUser) -> User | None:
        return self.state.user_by_name(user) if isinstance(user, str) else user

    def add_user(self, username: str, token: str | Iterable[str] | None = None, *,
                 name: str | None = None, access_level: int = 40, bot: bool = False) -> User:
        tokens = [token] if isinstance(token, str) else list(token or [])
        return self.state.add_user(username, tokens, name=name, access_level=access_level,
                                   bot=bot)

    def add_project(self, path: str, *, default_branch: str = "main",
                    visibility: str = "private", sha: str | None = None) -> Project:
        return self.state.add_project(path, default_branch=default_branch,
                                      visibility=visibility, sha=sha)

    def add_branch(self, project_id: int, name: str, sha: str) -> None:
        self.state.add_branch(project_id, name, sha)

    def add_commit(self, project_id: int, sha: str, *, title: str | None = None,
                   created_at: TimeLike = None) -> None:
        self.state.add_commit(project_id, sha, title=title, created_at=created_at)

    def add_tag(self, project_id: int, name: str, *, ref: str | None = None,
                sha: str | None = None, message: str | None = None,
                created_at: TimeLike = None) -> Tag:
        return self.state.add_tag(project_id, name, ref=ref, sha=sha, message=message,
                                  created_at=created_at)

    def add_milestone(self, project_id: int, title: str) -> None:
        with self.state.lock:
            self.state.must_project(project_id).milestones.append(title)

    def add_merge_request(self, project_id: int, *, source_branch: str,
                          target_branch: str = "main", iid: int | None = None,
                          sha: str | None = None, author: AnyUser = None, state: str = "opened",
                          title: str | None = None, commits: list[str] | None = None
                          ) -> MergeRequest:
        return self.state.add_merge_request(
            project_id, source_branch=source_branch, target_branch=target_branch, iid=iid,
            sha=sha, author=self._user(author), state=state, title=title, commits=commits)

    def add_note(self, project_id: int, mr_iid: int, body: str, *, author: User | str,
                 system: bool = False, internal: bool = False, created_at: TimeLike = None,
                 visible_to: Iterable[str] | None = None) -> Note:
        user = self._user(author)
        assert user is not None
        return self.state.add_note(project_id, mr_iid, body, author=user, system=system,
                                   internal=internal, created_at=created_at,
                                   visible_to=visible_to)

    def add_pipeline(self, project_id: int, *, ref: str, sha: str | None = None,
                     status: str = "success", source: str = "push",
                     user: AnyUser = None) -> Pipeline:
        return self.state.add_pipeline(project_id, ref=ref, sha=sha, status=status,
                                       source=source, user=self._user(user))

    def add_job(self, project_id: int, *, ref: str, name: str, status: str = "success",
                sha: str | None = None, stage: str = "test",
                artifacts: dict[str, bytes | str] | None = None,
                pipeline: Pipeline | None = None, user: AnyUser = None,
                token: str | None = None, tag: bool = False) -> Job:
        """A job (and its own pipeline unless `pipeline` is given). Its token acts as `user`
        (default: the first user added) while its status is "running"."""
        owner = self._user(user)
        if owner is None and self.state.users:
            owner = self.state.users[min(self.state.users)]
        return self.state.add_job(project_id, ref=ref, name=name, status=status, sha=sha,
                                  stage=stage, artifacts=artifacts, pipeline=pipeline,
                                  user=owner, token=token, tag=tag)

    def add_bridge(self, project_id: int, *, pipeline: Pipeline, name: str,
                   downstream: Pipeline | None = None, status: str | None = None,
                   stage: str = "test", user: AnyUser = None) -> Bridge:
        """A trigger job in `pipeline`; `downstream` is the pipeline it started (None: it
        started none, so `downstream_pipeline` is null). `status` defaults to the downstream
        pipeline's (`strategy: depend`), else "failed"."""
        return self.state.add_bridge(project_id, pipeline=pipeline, name=name,
                                     downstream=downstream, status=status, stage=stage,
                                     user=self._user(user))

    def add_child_pipeline(self, project_id: int, parent: Pipeline, *,
                           trigger: str = "execute-notebook-child", status: str = "success",
                           stage: str = "test") -> Pipeline:
        """A child pipeline of `parent` (same ref and SHA, source `parent_pipeline`) and the
        trigger job `trigger` in `parent` that started it. Add its jobs with
        `add_job(pipeline=child, ...)`."""
        with self.state.lock:
            child = self.state.add_pipeline(project_id, ref=parent.ref, sha=parent.sha,
                                            status=status, source="parent_pipeline",
                                            tag=parent.tag, user=self.state.users.get(
                                                parent.user_id or -1))
            self.state.add_bridge(project_id, pipeline=parent, name=trigger, downstream=child,
                                  stage=stage)
            return child

    def job_token(self, job: Job) -> str:
        return job.token

    def set_job_status(self, job: Job, status: str) -> None:
        with self.state.lock:
            job.status = status

    def add_release(self, project_id: int, tag_name: str, *, description: str = "",
                    name: str | None = None, ref: str | None = None,
                    released_at: TimeLike = None, links: Iterable[dict[str, str]] = (),
                    author: AnyUser = None, milestones: Iterable[str] = ()) -> Release:
        return self.state.add_release(project_id, tag_name, description=description, name=name,
                                      ref=ref, released_at=released_at, links=links,
                                      author=self._user(author), milestones=milestones)

    def add_wiki_page(self, project_id: int, title: str, content: str, *,
                      format: str = "markdown") -> WikiPage:
        return self.state.add_wiki_page(project_id, title, content, format)

    # ---- inspection -----------------------------------------------------------------------
    def notes(self, project_id: int, mr_iid: int) -> list[Note]:
        with self.state.lock:
            notes = self.state.must_project(project_id).notes.values()
            return sorted((n for n in notes if n.mr_iid == mr_iid),
                          key=lambda n: (n.created_at, n.id))

    def release(self, project_id: int, tag_name: str) -> Release | None:
        with self.state.lock:
            return self.state.must_project(project_id).releases.get(tag_name)

    def releases(self, project_id: int) -> list[Release]:
        with self.state.lock:
            return list(self.state.must_project(project_id).releases.values())

    def wiki_page(self, project_id: int, slug: str) -> WikiPage | None:
        with self.state.lock:
            return self.state.must_project(project_id).wiki.get(slug)

    def wiki_pages(self, project_id: int) -> list[WikiPage]:
        with self.state.lock:
            return sorted(self.state.must_project(project_id).wiki.values(),
                          key=lambda p: p.slug)

    def ml_model(self, project_id: int, name: str) -> MlModel | None:
        """A registered model of GitLab's model registry (routes_mlflow.py), None if absent."""
        with self.state.lock:
            return self.state.must_project(project_id).ml_models.get(name)

    def uploads(self, project_id: int) -> list[Upload]:
        with self.state.lock:
            return sorted(self.state.must_project(project_id).uploads.values(),
                          key=lambda u: u.id)

    def snapshot(self) -> dict[str, Any]:
        with self.state.lock:
            return seed_mod.snapshot(self.state)

    def seed(self, data: dict[str, Any]) -> None:
        with self.state.lock:
            seed_mod.apply(self, data)

    # ---- admin HTTP endpoints (/__emulator__/...) ---------------------------------------
    def admin(self, method: str, path: str, body: bytes) -> Response:
        data = json.loads(body) if body else {}
        try:
            if path == "/__emulator__/state" and method == "GET":
                return json_response(self.snapshot())
            if path == "/__emulator__/state" and method == "POST":
                self.seed(data)
                return json_response(self.snapshot(), 201)
            if path == "/__emulator__/faults" and method == "POST":
                return json_response(self.faults.add(**data).as_dict(), 201)
            if path == "/__emulator__/faults" and method == "DELETE":
                self.faults.clear()
                return Response(204)
            if path == "/__emulator__/faults" and method == "GET":
                return json_response([f.as_dict() for f in self.faults.all()])
            if path == "/__emulator__/requests" and method == "GET":
                return json_response([seed_mod.record_dict(r) for r in self.requests])
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"message": f"bad admin request: {exc}"}, 400)
        return json_response({"message": "unknown admin endpoint"}, 404)
