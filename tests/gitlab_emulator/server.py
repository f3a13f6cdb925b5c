"""HTTP front: parse a request, apply faults, authenticate, dispatch to a route, log it."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import (
    routes_jobs,
    routes_mlflow,
    routes_mr,
    routes_pipelines,
    routes_release,
    routes_repo,
    routes_wiki,
)
from .api import ApiError, Ctx, Response, Route, json_response, not_found, unauthorized
from .model import Job, User

if TYPE_CHECKING:
    from .emulator import GitLabEmulator

ROUTES: list[Route] = [*routes_mr.router.routes, *routes_wiki.router.routes,
                       *routes_release.router.routes, *routes_repo.router.routes,
                       *routes_jobs.router.routes, *routes_pipelines.router.routes,
                       *routes_mlflow.router.routes]
SECRET_HEADERS = {"private-token", "job-token", "authorization"}
SECRET_PARAMS = {"private_token", "job_token", "access_token"}
UPLOAD_TAIL = r"/uploads/(?P<secret>[0-9a-f]{32})/(?P<n>[^/]+)$"
UPLOAD_PATHS = [re.compile(r"^/-/project/(?P<id>\d+)" + UPLOAD_TAIL),
                re.compile(r"^/(?P<id>.+)" + UPLOAD_TAIL)]


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0
    auth: str | None = None
    user: str | None = None
    json: Any = None
    fault: bool = False
    started: float = field(default_factory=time.monotonic)


@dataclass
class Parsed:
    params: dict[str, Any]
    files: dict[str, tuple[str, str, bytes]]


def parse_body(content_type: str, body: bytes) -> Parsed:
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    if not body:
        return Parsed(params, files)
    if content_type.startswith("application/json"):
        data = json.loads(body)
        if isinstance(data, dict):
            params.update(data)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update(flatten(parse_qs(body.decode(), keep_blank_values=True)))
    elif content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            raw = part.get_payload(decode=True)
            payload = raw if isinstance(raw, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files[str(name)] = (filename, part.get_content_type(), payload)
            elif name is not None:
                params[str(name)] = payload.decode()
    return Parsed(params, files)


def flatten(query: dict[str, list[str]]) -> dict[str, Any]:
    """Grape-style params: `a[]=1&a[]=2` -> a=[...]; otherwise the last value."""
    return {key[:-2] if key.endswith("[]") else key: values if key.endswith("[]") else values[-1]
            for key, values in query.items()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 30
    emulator: GitLabEmulator

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    def handle_any(self) -> None:
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        record = RequestRecord(self.command, path, {k: v for k, v in query.items()
                                                    if k not in SECRET_PARAMS},
                               {k: "[MASKED]" if k.lower() in SECRET_HEADERS else v
                                for k, v in self.headers.items()})
        try:
            parsed = parse_body(self.headers.get("Content-Type", ""), body)
            record.json = parsed.params or None
        except (ValueError, UnicodeDecodeError):
            parsed = Parsed({}, {})
        if path.startswith("/__emulator__/"):
            self.send(self.emulator.admin(self.command, path, body))
            return
        fault = self.emulator.faults.take(self.command, path)
        if fault is not None:
            record.fault = True
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                record.status = -1
                self.emulator.log(record)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            answer = fault.response()
            if answer is not None:
                record.status = answer.status
                self.emulator.log(record)
                self.send(answer)
                return
        with self.emulator.state.lock:
            response = self.dispatch(path, query, parsed, record, body)
        record.status = response.status
        self.emulator.log(record)
        if fault is not None and fault.hold:
            time.sleep(fault.hold)       # done, but the answer is late (see Faults.add)
        self.send(response)

    def dispatch(self, path: str, query: dict[str, list[str]], parsed: Parsed,
                 record: RequestRecord, body: bytes = b"") -> Response:
        try:
            if not path.startswith("/api/v4/"):
                return self.serve_upload(path)
            route, match = find_route(self.command, path)
            user, job, kind = self.authenticate(route, query)
            record.auth, record.user = kind, user.username if user else None
            params = {**flatten(query), **parsed.params}
            ctx = Ctx(self.emulator.state, self.command, path, self.headers.get("Host", ""),
                      query, params, parsed.files, match, user, job, body=body)
            if route.auth and user is None:
                raise unauthorized()
            if "id" in match:
                ctx.project = self.emulator.state.project(unquote(match["id"]))
                if ctx.project is None or (job is not None and job.project_id != ctx.project.id) \
                        or (user is None and ctx.project.visibility != "public"):
                    raise not_found("Project")
            return route.handler(ctx)
        except ApiError as err:
            if isinstance(err.payload, bytes):
                return Response(err.status, err.payload, err.content_type)
            return json_response(err.payload, err.status)

    def authenticate(self, route: Route, query: dict[str, list[str]]
                     ) -> tuple[User | None, Job | None, str | None]:
        state = self.emulator.state
        auth = self.headers.get("Authorization", "")
        private = self.headers.get("PRIVATE-TOKEN") or (query.get("private_token") or [""])[-1]
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        for kind, token in (("private_token", private), ("bearer", bearer)):
            if token:
                user_id = state.tokens.get(token)
                if user_id is None:
                    raise unauthorized()
                return state.users[user_id], None, kind
        job_token = self.headers.get("JOB-TOKEN") or (query.get("job_token") or [""])[-1]
        if job_token and route.job_token:
            job = state.job_by_token(job_token)
            if job is None or job.status != "running" or job.user_id not in state.users:
                raise unauthorized()
            return state.users[job.user_id], job, "job_token"
        return None, None, "job_token_ignored" if job_token else None

    def serve_upload(self, path: str) -> Response:
        for pattern in UPLOAD_PATHS:
            m = pattern.match(path)
            project = self.emulator.state.project(unquote(m["id"])) if m else None
            upload = project.uploads.get(m["secret"]) if m and project else None
            if m and upload is not None and upload.filename == unquote(m["n"]):
                return Response(200, upload.data, upload.content_type)
        raise ApiError(404, b"Not Found\n", "text/plain")

    def send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


def find_route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    allowed = False
    for route in ROUTES:
        m = route.regex.match(path)
        if m is None:
            continue
        if route.method == method or (method == "HEAD" and route.method == "GET"):
            return route, m.groupdict()
        allowed = True
    if allowed:
        raise ApiError(405, {"error": "405 Not Allowed"})
    raise ApiError(404, {"error": "404 Not Found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, reset faults) are expected; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)
