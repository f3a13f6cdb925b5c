"""A real PyPI-compatible index for the runner package tests: ``pypiserver`` on a free loopback
port, uploads with HTTP Basic (``gitlab-ci-token`` + a job token, as GitLab's PyPI registry takes
them), and, like GitLab's package forwarding, a redirect to pypi.org for packages it lacks.

Also: building this working tree's wheel and sdist, and the templates' one-line install step.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.registry_helpers import PYTHON_BASE_IMAGE, Storage, free_port, make_python_base_image

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USER, PASSWORD = "gitlab-ci-token", "job-token-for-the-index"

needs_index_tools = pytest.mark.skipif(
    not all((BIN / tool).is_file() for tool in ("pypi-server", "twine", "uv")),
    reason="needs pypiserver, twine and uv in the venv (the dev extra)")


@dataclass
class PackageIndex:
    """``upload_url`` is what twine uploads to; ``simple_url`` is what pip installs from."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def upload_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def upload(self, files: list[Path], password: str = PASSWORD
               ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", self.upload_url, "-u", USER, "-p", password,
             *map(str, files)], capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_index(directory: Path) -> PackageIndex:
    """Start pypiserver serving ``directory/packages``; uploads need USER/PASSWORD."""
    packages = directory / "packages"
    packages.mkdir(parents=True, exist_ok=True)
    htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                              capture_output=True, text=True).stdout
    (directory / "htpasswd").write_text(htpasswd)
    port = free_port()
    log = directory / "pypiserver.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "pypi-server"), "run", "-v", "-i", "127.0.0.1", "-p", str(port),
             "-a", "update", "-P", str(directory / "htpasswd"),
             "--fallback-url", "https://pypi.org/simple/", str(packages)],
            stdout=out, stderr=subprocess.STDOUT)
    index = PackageIndex(port, process, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pypiserver exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(index.simple_url, timeout=1).status_code == 200:
                return index
        except requests.ConnectionError:
            time.sleep(0.1)
    index.stop()
    raise RuntimeError(f"pypiserver did not start: {log.read_text()[-2000:]}")


def build_dist(out: Path) -> list[Path]:
    """This working tree's sdist and wheel (``uv build``: the wheel is built from the sdist)."""
    subprocess.run([str(BIN / "uv"), "build", "-q", "--out-dir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return sorted(out.glob("ds_pipeline_runner-*"))


def install_step(template: str = "execute-notebook") -> str:
    """The one-line ds-runner step of a template (the line after its comment)."""
    text = (ROOT / "templates" / f"{template}.yml").read_text(encoding="utf-8")
    match = re.search(r"    # ds-runner at runner_version[^\n]*\n(?:    - [^\n]*\n)*?"
                      r"    - (ds-runner --version [^\n]*)\n", text)
    if match is None:
        raise AssertionError(f"templates/{template}.yml has no ds-runner install step")
    return match.group(1)


def build_runner_image(storage: Storage, wheel: Path, image: str, work: Path) -> str:
    """Dockerfile.runner built with buildah in ``storage`` as ``image``, on the local Debian
    base with Python. The build's pip gets the dependencies from a local index that the host's
    pip fills (this machine reaches PyPI only through a CA the base image does not trust)."""
    context = work / "context"
    (context / "dist").mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, context / "dist")
    make_python_base_image(storage, work / "python-base")
    base = storage.buildah("from", PYTHON_BASE_IMAGE).strip()
    python = storage.buildah("run", "--isolation", "chroot", base, "--", "python3", "-c",
                             "import platform; print(platform.python_version())").strip()
    storage.buildah("rm", base)
    index = start_index(work / "index")
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                        "--python-version", python, "-d", str(work / "index" / "packages"),
                        str(wheel)], check=True, capture_output=True, timeout=300)
        version = wheel.name.split("-")[1]
        storage.buildah(
            "build", "--isolation", "chroot", "-q", "-f", str(ROOT / "Dockerfile.runner"),
            "--build-arg", f"BASE_IMAGE={PYTHON_BASE_IMAGE}",
            "--build-arg", f"PIP_INDEX_URL={index.simple_url}",
            "--build-arg", f"RUNNER_VERSION={version}", "-t", image, str(context))
    finally:
        index.stop()
    return image
