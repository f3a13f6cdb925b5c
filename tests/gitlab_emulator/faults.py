"""Injectable faults: rate limiting (429), gateway errors, slow answers, connection resets."""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from .api import Response

NGINX_ERROR = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
               "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
               "</body>\r\n</html>\r\n")

APP_LIMIT = "This endpoint has been requested too many times. Try again later."


@dataclass
class Fault:
    path: str
    method: str | None = None
    status: int | None = None
    retry_after: int | None = None
    times: int | None = 1
    delay: float = 0.0
    reset: bool = False
    body: str | None = None
    hold: float = 0.0
    hits: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.pattern.search(path) is not None

    def response(self) -> Response | None:
        """The answer this fault gives instead of the API, or None to serve the request."""
        if self.status is None:
            return None
        reason = HTTPStatus(self.status).phrase
        if self.status == 429:
            if self.retry_after is not None:
                return Response(429, (self.body or "Retry later\n").encode(), "text/plain",
                                rate_limit_headers(self.retry_after))
            # An application limit (check_rate_limit!) of older GitLab: no Retry-After and no
            # RateLimit-* headers, so clients fall back to their own backoff.
            body = self.body or json.dumps({"message": {"error": APP_LIMIT}})
            return Response(429, body.encode(), "application/json")
        if self.status >= 500:
            body = self.body or NGINX_ERROR.format(code=self.status, reason=reason)
            return Response(self.status, body.encode(), "text/html")
        body = self.body or json.dumps({"message": f"{self.status} {reason}"})
        return Response(self.status, body.encode(), "application/json")

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "method": self.method, "status": self.status,
                "retry_after": self.retry_after, "times": self.times, "delay": self.delay,
                "reset": self.reset, "body": self.body, "hold": self.hold, "hits": self.hits}


def rate_limit_headers(retry_after: int) -> dict[str, str]:
    """Rack::Attack's throttle headers (GL: doc/administration/settings/user_and_ip_rate_limits)."""
    reset = int(time.time()) + retry_after
    headers = {"RateLimit-Name": "throttle_authenticated_api", "RateLimit-Limit": "60",
               "RateLimit-Observed": "61", "RateLimit-Remaining": "0",
               "RateLimit-Reset": str(reset),
               "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
               "Retry-After": str(retry_after)}
    return headers


class Faults:
    """Thread-safe list of faults; the first active one matching a request answers it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, path: str, *, method: str | None = None, status: int | None = None,
            retry_after: int | None = None, times: int | None = 1, delay: float = 0.0,
            reset: bool = False, body: str | None = None, hold: float = 0.0) -> Fault:
        """Answer the next `times` requests whose path matches `path` (re.search) with a fault.

        `delay` waits before serving, `hold` after serving and before answering. Either way a
        request without `status` is still carried out when the client has given up meanwhile:
        GitLab finishes a request whose client went away (Puma does not stop a request when
        the socket closes; only rack-timeout ends it, after 60 s: gitlab-org/gitlab-foss!28405).
        """
        if status is None and not delay and not reset and not hold:
            raise ValueError("a fault needs a status, a delay, a hold or reset=True")
        fault = Fault(path, method, status, retry_after, times, delay, reset, body, hold)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)
