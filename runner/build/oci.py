"""A small Docker Registry HTTP API v2 client: "is this tag there?" and "give this manifest
another tag", with the registry's auth.

``HEAD /v2/<name>/manifests/<tag>`` with the Docker and OCI manifest media types; ``GET`` of a
manifest's exact bytes and ``PUT`` of the same bytes with the same ``Content-Type`` under another
tag (the OCI distribution spec's "Pushing Manifests"; GitLab's registry is that API). A ``401`` with
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` (GitLab, distribution's token auth)
is answered by fetching a token from the realm with HTTP Basic ``user:password`` and retrying with
``Authorization: Bearer``; a ``Basic`` challenge (htpasswd) by retrying with HTTP Basic.
Connection failures and refused credentials raise RegistryError with a one-line message that
never contains the password.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass

import requests
from requests.utils import parse_dict_header

from runner.errors import RegistryError, UsageError

logger = logging.getLogger(__name__)

MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ImageRef:
    """``registry/repository:tag``, e.g. ``registry.gitlab.com/group/proj/notebook:deps-1a2b``."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        """``host[:port]/path:tag``, as build-container writes ``DS_IMAGE``; UsageError for a
        reference without a registry host or a tag, or one by digest."""
        text = image.strip()
        name, sep, tag = text.rpartition(":")
        host, slash, repository = name.partition("/")
        if "@" in text or not sep or "/" in tag or not tag or not slash or not repository:
            raise UsageError(f"image must be host[:port]/path:tag, got {image!r}")
        return cls(host, repository, tag)

    def within(self, registry_image: str) -> bool:
        """True when this image lies under ``registry_image`` (``$CI_REGISTRY_IMAGE``)."""
        base = ImageRef.from_parts(registry_image, "", self.tag)
        return self.registry == base.registry and (
            self.repository == base.repository
            or self.repository.startswith(base.repository + "/"))

    @classmethod
    def from_parts(cls, registry_image: str, name: str, tag: str) -> ImageRef:
        """``$CI_REGISTRY_IMAGE`` (``host[:port]/path``) + image name (may be empty) + tag."""
        base = registry_image.strip().rstrip("/")
        for scheme in ("https://", "http://"):
            base = base.removeprefix(scheme)
        host, sep, path = base.partition("/")
        if not sep or not host or not path:
            raise UsageError(f"registry image must be host/path (like $CI_REGISTRY_IMAGE), "
                             f"got {registry_image!r}")
        repository = f"{path}/{name.strip('/')}" if name.strip("/") else path
        if repository != repository.lower():
            raise UsageError(f"registry repository names must be lowercase: {repository}")
        return cls(host, repository, tag)


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes, its media type and its digest (sha256 of the bytes)."""

    body: bytes
    media_type: str
    digest: str


class RegistryClient:
    """Talks to one registry host; remembers the token per scope for the process lifetime."""

    def __init__(
        self,
        registry: str,
        username: str | None = None,
        password: str | None = None,
        *,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self.registry = registry
        self.base_url = f"{'http' if insecure else 'https'}://{registry}"
        self._creds: tuple[str, str] | None = (
            (username, password) if username and password else None
        )
        self._timeout = timeout
        self._session = session or requests.Session()
        self._auth_headers: dict[str, str] = {}

    def manifest_exists(self, repository: str, reference: str) -> bool:
        """True on 200, False on 404; RegistryError on anything else."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        response = self._request("HEAD", url, f"repository:{repository}:pull")
        if response.status_code == 200:
            logger.debug("%s:%s exists (digest %s)", repository, reference,
                         response.headers.get("Docker-Content-Digest", "?"))
            return True
        if response.status_code == 404:
            return False
        raise RegistryError(f"registry {self.registry}: HEAD {repository}:{reference} "
                            f"answered HTTP {response.status_code}")

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest's bytes as stored (a digest covers exact bytes), or None on 404."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        response = self._request("GET", url, f"repository:{repository}:pull")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(f"registry {self.registry}: GET {repository}:{reference} "
                                f"answered HTTP {response.status_code}{_detail(response)}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise RegistryError(f"{self.registry}/{repository}:{reference} has a manifest of "
                                f"type {media_type or 'unknown'!r}, not an OCI or Docker v2 one")
        body = response.content
        return Manifest(body, media_type, "sha256:" + hashlib.sha256(body).hexdigest())

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Store ``manifest`` under ``reference``; the digest the registry answers with."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        response = self._request("PUT", url, f"repository:{repository}:pull,push",
                                 body=manifest.body, content_type=manifest.media_type)
        if response.status_code != 201:
            raise RegistryError(f"registry {self.registry}: PUT {repository}:{reference} "
                                f"answered HTTP {response.status_code}{_detail(response)}")
        return response.headers.get("Docker-Content-Digest", manifest.digest)

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | None = None) -> requests.Response:
        try:
            return self._session.request(method, url, headers=headers, data=body,
                                         timeout=self._timeout, allow_redirects=True)
        except requests.ConnectionError as e:
            raise RegistryError(f"registry {self.registry} unreachable ({_reason(e)})") from e
        except requests.RequestException as e:
            raise RegistryError(f"registry {self.registry} request failed ({_reason(e)})") from e

    def _request(self, method: str, url: str, scope: str, *, body: bytes | None = None,
                 content_type: str = "") -> requests.Response:
        """One request; on a 401 (no token yet, or one without this scope, such as a pull
        token for a PUT) authenticate as the challenge says and send it once more."""
        headers = {"Accept": ACCEPT, **({"Content-Type": content_type} if content_type else {})}
        response = self._send(method, url, {**headers, **self._auth_headers}, body)
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        self._auth_headers = self._authenticate(challenge, scope)
        response = self._send(method, url, {**headers, **self._auth_headers}, body)
        if response.status_code in (401, 403):
            raise RegistryError(f"registry {self.registry} refused the credentials "
                                f"(HTTP {response.status_code} for {scope})")
        return response

    def _authenticate(self, challenge: str, scope: str) -> dict[str, str]:
        scheme, _, params_text = challenge.strip().partition(" ")
        params: dict[str, str] = parse_dict_header(params_text)  # type: ignore[no-untyped-call]
        if scheme.lower() == "basic":
            if self._creds is None:
                raise RegistryError(f"registry {self.registry} needs credentials "
                                    "(set CI_REGISTRY_USER and CI_REGISTRY_PASSWORD)")
            pair = base64.b64encode(":".join(self._creds).encode("utf-8")).decode("ascii")
            return {"Authorization": f"Basic {pair}"}
        if scheme.lower() != "bearer" or not params.get("realm"):
            raise RegistryError(f"registry {self.registry} sent an unsupported auth challenge "
                                f"{challenge[:80]!r}")
        token = self._fetch_token(params["realm"], params.get("service"),
                                  params.get("scope") or scope)
        return {"Authorization": f"Bearer {token}"}

    def _fetch_token(self, realm: str, service: str | None, scope: str) -> str:
        query = {"scope": scope, **({"service": service} if service else {})}
        try:
            response = self._session.get(realm, params=query, auth=self._creds,
                                         timeout=self._timeout)
        except requests.RequestException as e:
            raise RegistryError(f"registry token service {realm} unreachable "
                                f"({_reason(e)})") from e
        if response.status_code in (401, 403):
            raise RegistryError(f"registry token service {realm} refused the credentials "
                                f"(HTTP {response.status_code})")
        if response.status_code != 200:
            raise RegistryError(f"registry token service {realm} answered "
                                f"HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry token service {realm} sent no token")
        return token


def _detail(response: requests.Response) -> str:
    """``: CODE message`` of the registry's first error (distribution's error body), or ""."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()[:200]
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


def _reason(error: requests.RequestException) -> str:
    """A short cause such as 'connection refused' instead of urllib3's nested repr."""
    text = str(error)
    for marker, short in (("Connection refused", "connection refused"),
                          ("Name or service not known", "unknown host"),
                          ("timed out", "timed out"),
                          ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted")):
        if marker in text:
            return short
    return type(error).__name__
