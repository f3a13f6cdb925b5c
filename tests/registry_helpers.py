"""Real registries for the build-container tests: Debian's ``docker-registry`` on a free loopback
port, with GitLab-like token auth (an in-process token server signing RS256 JWTs) or htpasswd
Basic auth; a tiny base image made locally (no pulls); buildah storage in a temp dir.

Load the fixtures with ``pytest_plugins = ("tests.registry_helpers",)`` in a test module.
(PYTEST_DONT_REWRITE: test modules import this before pytest loads it as a plug-in.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY_BIN = "/usr/bin/docker-registry"
SERVICE = "container_registry"
ISSUER = "ds-pipeline-test-issuer"
USER, PASSWORD = "gitlab-ci-token", "job-token-s3cr3t-value"
BASE_IMAGE = "localhost/ds-test-base:1"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ds-pipeline"

needs_registry = pytest.mark.skipif(
    not (os.access(REGISTRY_BIN, os.X_OK) and shutil.which("htpasswd")),
    reason="needs Debian docker-registry and apache2-utils (./dev test installs them)")
needs_buildah = pytest.mark.skipif(
    not (shutil.which("buildah") and shutil.which("skopeo")), reason="needs buildah and skopeo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class TokenRequest:
    path: str
    user: str | None
    query: dict[str, list[str]]


class TokenServer:
    """GET /jwt/auth?service=..&scope=repository:<name>:pull,push with HTTP Basic -> {"token"}."""

    def __init__(self, directory: Path, users: dict[str, str]) -> None:
        self.users = users
        self.requests: list[TokenRequest] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ds-test-token-signer")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert_path = directory / "token-signer.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.realm = f"http://127.0.0.1:{self._server.server_address[1]}/jwt/auth"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self, user: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert_der).decode("ascii")]}
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "iat": now, "nbf": now - 10,
                  "exp": now + 300, "jti": uuid.uuid4().hex, "access": access}
        signing_input = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                user = password = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                server.requests.append(TokenRequest(url.path, user, query))
                if url.path != "/jwt/auth" or query.get("service") != [SERVICE]:
                    self._reply(400, {"error": "bad request"})
                elif user is None or server.users.get(user) != password:
                    self._reply(401, {"error": "HTTP Basic: Access denied"})
                else:
                    self._reply(200, {"token": server.issue(user, query.get("scope", []))})

            def _reply(self, status: int, body: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@dataclass
class Registry:
    """A running docker-registry: ``host`` is ``127.0.0.1:<port>``."""

    host: str
    process: subprocess.Popen[bytes]
    username: str = USER
    password: str = PASSWORD
    token_server: TokenServer | None = None
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.token_server:
            self.token_server.close()


def start_registry(directory: Path, auth: str = "token") -> Registry:
    """Start docker-registry with ``auth`` = ``token`` (Bearer via TokenServer) or ``htpasswd``."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token_server = None
    if auth == "token":
        token_server = TokenServer(directory, {USER: PASSWORD})
        auth_yaml = (f"  token:\n    realm: {token_server.realm}\n    service: {SERVICE}\n"
                     f"    issuer: {ISSUER}\n    rootcertbundle: {token_server.cert_path}\n")
    else:
        htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                                  capture_output=True, text=True).stdout
        (directory / "htpasswd").write_text(htpasswd)
        auth_yaml = f"  htpasswd:\n    realm: ds-test\n    path: {directory / 'htpasswd'}\n"
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {directory / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: ds-test-http-secret\n"
        f"auth:\n{auth_yaml}")
    log = directory / "registry.log"
    with log.open("wb") as out:
        process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT)
    registry = Registry(f"127.0.0.1:{port}", process, token_server=token_server, log=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{registry.url}/v2/", timeout=1).status_code == 401:
                return registry
        except requests.ConnectionError:
            time.sleep(0.05)
    registry.stop()
    raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[Registry]:
    registry = start_registry(tmp_path / "registry", "token")
    yield registry
    registry.stop()


@pytest.fixture
def htpasswd_registry(tmp_path: Path) -> Iterator[Registry]:
    registry = start_registry(tmp_path / "registry", "htpasswd")
    yield registry
    registry.stop()


# --- a base image made locally -------------------------------------------------------------

def base_rootfs_tar() -> Path:
    """A minimal rootfs (the host's /bin/sh + the libraries it loads) as a reproducible tar,
    cached under ~/.cache/ds-pipeline/ by the hash of those files. Enough for ``RUN echo``."""
    shell = Path(os.path.realpath("/bin/sh"))
    ldd = subprocess.run(["ldd", str(shell)], capture_output=True, text=True, check=True).stdout
    libs = sorted({part for line in ldd.splitlines() for part in line.split()
                   if part.startswith("/")})
    sources = {"bin/sh": shell, **{lib.lstrip("/"): Path(lib) for lib in libs}}
    digest = hashlib.sha256()
    for name, path in sorted(sources.items()):
        digest.update(name.encode() + b"\0" + path.read_bytes())
    target = CACHE / f"base-rootfs-{digest.hexdigest()[:16]}.tar"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(n).parents[i]) for n in sources
                       for i in range(len(Path(n).parents) - 1)} | {"tmp"})
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mtime = tarfile.DIRTYPE, 0
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, path in sorted(sources.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o755, 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    partial.replace(target)
    return target


PYTHON_BASE_IMAGE = "localhost/ds-test-python:1"
PYTHON_BASE_PACKAGES = ("python3", "python3-venv", "git", "ca-certificates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"

needs_debootstrap = pytest.mark.skipif(
    not shutil.which("debootstrap") or os.geteuid() != 0,
    reason="needs debootstrap and root to make a Python base image (./dev test installs it)")


def _os_release(key: str) -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        name, _, value = line.partition("=")
        if name == key:
            return value.strip('"')
    raise RuntimeError(f"/etc/os-release has no {key}")


def python_rootfs_tar() -> Path:
    """A Debian minbase rootfs with Python, venv and git (``debootstrap``, ~75-100 s), standing
    in for ``python:3.11-slim``; cached under ~/.cache/ds-pipeline/ by suite, architecture,
    mirror and package list, so a machine pays it once."""
    suite = _os_release("VERSION_CODENAME")
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    key = hashlib.sha256("\0".join([suite, arch, DEBIAN_MIRROR, *PYTHON_BASE_PACKAGES])
                         .encode()).hexdigest()[:16]
    target = CACHE / f"python-rootfs-{suite}-{arch}-{key}.tar"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / f"python-rootfs.{os.getpid()}.d"
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        subprocess.run(["debootstrap", "--variant=minbase", f"--arch={arch}",
                        f"--include={','.join(PYTHON_BASE_PACKAGES)}", suite, str(tree),
                        DEBIAN_MIRROR], check=True, capture_output=True)
        shutil.rmtree(tree / "var" / "lib" / "apt" / "lists", ignore_errors=True)
        shutil.rmtree(tree / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        subprocess.run(["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*",
                        "--exclude=./sys/*", "-C", str(tree), "-cf", str(partial), "."],
                       check=True)
        partial.replace(target)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        partial.unlink(missing_ok=True)
    return target


def make_python_base_image(storage: Storage, work: Path, name: str = PYTHON_BASE_IMAGE) -> str:
    """``FROM scratch`` + the Python rootfs into ``storage`` as ``name``."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(python_rootfs_tar(), work / "rootfs.tar")
    (work / "Containerfile").write_text(
        "FROM scratch\nADD rootfs.tar /\n"
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8\n"
        'CMD ["python3"]\n')
    storage.buildah("build", "--isolation", "chroot", "-q", "-t", name,
                    "-f", str(work / "Containerfile"), str(work))
    return name


@dataclass(frozen=True)
class Storage:
    """buildah storage in a temp dir (vfs), so tests never touch /var/lib/containers."""

    root: Path
    runroot: Path

    def options(self) -> list[str]:
        return ["--storage-driver", "vfs", "--root", str(self.root), "--runroot", str(self.runroot)]

    def buildah(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(["buildah", *self.options(), *args], input=stdin,
                              capture_output=True, text=True,
                              env={**os.environ, "BUILDAH_ISOLATION": "chroot"})
        if done.returncode != 0:
            raise RuntimeError(f"buildah {args[0]} failed: {done.stderr[-2000:]}")
        return done.stdout


def make_base_image(storage: Storage, work: Path, name: str = BASE_IMAGE) -> str:
    """``FROM scratch`` + ``ADD rootfs.tar /`` into ``storage`` as ``name``."""
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(base_rootfs_tar(), work / "rootfs.tar")
    (work / "Containerfile").write_text("FROM scratch\nADD rootfs.tar /\nCMD [\"/bin/sh\"]\n")
    storage.buildah("build", "--isolation", "chroot", "-q", "-t", name,
                    "-f", str(work / "Containerfile"), str(work))
    return name


@pytest.fixture(scope="session")
def buildah_storage(tmp_path_factory: pytest.TempPathFactory) -> Storage:
    """Session-wide temp buildah storage that already holds the base image BASE_IMAGE."""
    top = tmp_path_factory.mktemp("buildah")
    storage = Storage(top / "root", top / "runroot")
    make_base_image(storage, top / "base")
    return storage


def push_image(storage: Storage, registry: Registry, image: str) -> None:
    """Push the base image to ``registry`` as ``image`` (``host/repo:tag``)."""
    storage.buildah("push", "--tls-verify=false", "--creds",
                    f"{registry.username}:{registry.password}", BASE_IMAGE, f"docker://{image}")


def wrap_program(bin_dir: Path, program: str) -> Path:
    """Put a ``program`` wrapper first on PATH that logs each call's first non-option word,
    then runs the real one. Returns the log file (absent until the first call)."""
    real = shutil.which(program)
    if real is None:
        raise RuntimeError(f"{program} not on PATH")
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = bin_dir / f"{program}.calls"
    script = bin_dir / program
    script.write_text("#!/bin/sh\n"
                      f"for a in \"$@\"; do case $a in build|push|login) "
                      f"echo \"$a\" >> '{log}'; break;; esac; done\n"
                      f"exec '{real}' \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


# --- tiny images pushed through the registry API (no builder) -------------------------------

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def registry_session(registry: Registry, repository: str) -> requests.Session:
    """A session allowed to pull and push ``repository``: a token from the test token server,
    or HTTP Basic for an htpasswd registry."""
    session = requests.Session()
    if registry.token_server is not None:
        token = registry.token_server.issue(registry.username,
                                            [f"repository:{repository}:pull,push"])
        session.headers["Authorization"] = f"Bearer {token}"
    else:
        session.auth = (registry.username, registry.password)
    return session


def _push_blob(session: requests.Session, registry: Registry, repository: str,
               data: bytes, media_type: str) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = session.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if location.startswith("http") else registry.url + location
    done = session.put(location, params={"digest": digest}, data=data, timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _put_manifest(session: requests.Session, registry: Registry, repository: str,
                  reference: str, body: bytes, media_type: str) -> str:
    done = session.put(f"{registry.url}/v2/{repository}/manifests/{reference}", data=body,
                       headers={"Content-Type": media_type}, timeout=10)
    assert done.status_code == 201, done.text
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_tiny_image(registry: Registry, repository: str, tag: str,
                    media_type: str = DOCKER_MANIFEST, seed: str = "") -> str:
    """Push a one-layer image (a gzipped tar holding ``seed``) as a Docker v2 manifest, an OCI
    manifest or an OCI index over one; the digest of what ``tag`` names."""
    import gzip
    import io

    session = registry_session(registry, repository)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("seed.txt")
        payload = f"seed {seed}\n".encode()
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer_data = gzip.compress(tar_bytes.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes.getvalue()).hexdigest()
    oci = media_type != DOCKER_MANIFEST
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    kinds = (("application/vnd.oci.image.config.v1+json",
              "application/vnd.oci.image.layer.v1.tar+gzip") if oci else
             ("application/vnd.docker.container.image.v1+json",
              "application/vnd.docker.image.rootfs.diff.tar.gzip"))
    manifest_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": _push_blob(session, registry, repository, config, kinds[0]),
        "layers": [_push_blob(session, registry, repository, layer_data, kinds[1])],
    }, indent=3).encode()       # not the registry's own formatting: the copy must keep bytes
    if media_type != OCI_INDEX:
        return _put_manifest(session, registry, repository, tag, manifest, manifest_type)
    digest = _put_manifest(session, registry, repository,
                           "sha256:" + hashlib.sha256(manifest).hexdigest(), manifest,
                           OCI_MANIFEST)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    return _put_manifest(session, registry, repository, tag, index, OCI_INDEX)


def manifest_of(registry: Registry, repository: str, reference: str) -> requests.Response:
    """GET a manifest as a client that accepts every type would (404 when absent)."""
    return registry_session(registry, repository).get(
        f"{registry.url}/v2/{repository}/manifests/{reference}", timeout=10,
        headers={"Accept": ", ".join([DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX])})


def tags_of(registry: Registry, repository: str) -> list[str]:
    """The repository's tags (``GET /v2/<name>/tags/list``); [] when it has none."""
    done = registry_session(registry, repository).get(
        f"{registry.url}/v2/{repository}/tags/list", timeout=10)
    if done.status_code == 404:
        return []
    assert done.status_code == 200, done.text
    return sorted(done.json().get("tags") or [])
