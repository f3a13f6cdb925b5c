"""build-container: build and push the notebook image only when its content-hash tag is missing.

``ensure_image`` hashes the inputs (runner.build.hashing), asks the registry for the tag
(runner.build.oci) and, only when it is absent, runs a builder: ``buildah`` (default; chroot
isolation, no daemon) or ``docker`` (docker-in-docker). It writes a dotenv file
(``DS_IMAGE``, ``DS_IMAGE_TAG``, ``DS_IMAGE_BUILT``) for later jobs' ``image:``. In a pipeline
for a released production tag whose image ``:<tag>`` exists (runner.build.promote made it),
``DS_IMAGE`` is that image, so a schedule on ``v1.2.3`` runs in ``:v1.2.3``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from runner.build.hashing import content_hash
from runner.errors import RegistryError, UsageError
from runner.masking import Masker, masker_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildSpec:
    """Everything a builder needs; ``registry`` is the host the credentials are for."""

    image: str
    registry: str
    dockerfile: Path
    context: Path
    build_args: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    insecure: bool = False
    storage_driver: str | None = None
    storage_root: Path | None = None
    storage_runroot: Path | None = None


@dataclass(frozen=True)
class Step:
    """One builder process: its argv and, for secrets, what it reads on stdin."""

    argv: tuple[str, ...]
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


class Builder(Protocol):
    name: str

    def steps(self, spec: BuildSpec) -> list[Step]:
        """The processes that build ``spec.image`` and push it, in order."""


def detect_storage_driver(root: Path | None = None) -> str:
    """``vfs`` when overlay cannot work (no kernel support, or storage on overlayfs, as inside
    most CI containers); ``overlay`` otherwise. ``STORAGE_DRIVER`` overrides, as for buildah."""
    if os.environ.get("STORAGE_DRIVER"):
        return os.environ["STORAGE_DRIVER"]
    try:
        filesystems = Path("/proc/filesystems").read_text()
        mounts = Path("/proc/mounts").read_text()
    except OSError:
        return "vfs"
    target = (root or Path("/var/lib/containers")).resolve()
    return storage_driver_for(target, filesystems, mounts)


def storage_driver_for(target: Path, filesystems: str, mounts: str) -> str:
    """The decision behind detect_storage_driver, from /proc/filesystems and /proc/mounts text."""
    if "overlay" not in filesystems.split():
        return "vfs"
    best, fstype = "", ""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1]
        inside = target == Path(point) or Path(point) in target.parents
        if inside and len(point) >= len(best):
            best, fstype = point, parts[2]
    return "vfs" if fstype == "overlay" else "overlay"


class Buildah:
    """``buildah build`` (chroot isolation, no daemon) then ``buildah push``."""

    name = "buildah"

    def steps(self, spec: BuildSpec) -> list[Step]:
        common = ["buildah", "--storage-driver",
                  spec.storage_driver or detect_storage_driver(spec.storage_root)]
        if spec.storage_root:
            common += ["--root", str(spec.storage_root)]
        if spec.storage_runroot:
            common += ["--runroot", str(spec.storage_runroot)]
        build = [*common, "build", "--isolation", "chroot", "--format", "docker",
                 "-f", str(spec.dockerfile), "-t", spec.image]
        for name, value in sorted(spec.build_args.items()):
            build += ["--build-arg", f"{name}={value}"]
        push = [*common, "push"]
        if spec.username and spec.password:
            push += ["--creds", f"{spec.username}:{spec.password}"]
        if spec.insecure:
            push.append("--tls-verify=false")
        env = {"BUILDAH_ISOLATION": "chroot"}
        return [Step((*build, str(spec.context)), env=env),
                Step((*push, spec.image, f"docker://{spec.image}"), env=env)]


class Docker:
    """docker-in-docker: ``docker login --password-stdin``, ``docker build``, ``docker push``."""

    name = "docker"

    def steps(self, spec: BuildSpec) -> list[Step]:
        steps = []
        if spec.username and spec.password:
            steps.append(Step(("docker", "login", "--username", spec.username,
                               "--password-stdin", spec.registry), stdin=spec.password))
        build = ["docker", "build", "-f", str(spec.dockerfile), "-t", spec.image]
        for name, value in sorted(spec.build_args.items()):
            build += ["--build-arg", f"{name}={value}"]
        steps.append(Step((*build, str(spec.context))))
        steps.append(Step(("docker", "push", spec.image)))
        return steps


BUILDERS: dict[str, Builder] = {"buildah": Buildah(), "docker": Docker()}


def get(name: str) -> Builder:
    try:
        return BUILDERS[name]
    except KeyError:
        raise UsageError(f"no builder named {name!r} (choose from: "
                         f"{', '.join(sorted(BUILDERS))})") from None


def run_steps(steps: Sequence[Step], masker: Masker) -> None:
    """Run each step, streaming its output to the log (masked); RegistryError on failure."""
    for step in steps:
        program = step.argv[0]
        if shutil.which(program) is None:
            raise RegistryError(f"{program} not found on PATH: install it or choose another "
                                "builder (--builder)")
        logger.info("$ %s", masker.mask(" ".join(step.argv)))
        tail: deque[str] = deque(maxlen=20)
        try:
            proc = subprocess.Popen(step.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    env={**os.environ, **step.env})
        except OSError as e:
            raise RegistryError(f"cannot start {program}: {e.strerror}") from e
        with proc:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(step.stdin or "")
                proc.stdin.close()
            except BrokenPipeError:
                pass  # it exited already; its output and exit status say why
            for line in proc.stdout:
                line = masker.mask(line.rstrip())
                tail.append(line)
                logger.info("%s: %s", program, line)
        if proc.returncode != 0:
            last = next((line for line in reversed(tail) if line.strip()), "no output")
            raise RegistryError(f"{program} {_subcommand(step.argv)} failed "
                                f"(exit {proc.returncode}): {last.strip()}")


def _subcommand(argv: Sequence[str]) -> str:
    """``build`` in ``buildah --root /r build ...``: the first word after global options."""
    i = 1
    while i < len(argv) and argv[i].startswith("--") and "=" not in argv[i]:
        i += 2
    return argv[min(i, len(argv) - 1)]


@dataclass(frozen=True)
class BuildResult:
    image: str
    tag: str
    digest: str
    built: bool
    dry_run: bool = False
    steps: tuple[Step, ...] = ()

    def dotenv(self) -> str:
        return (f"DS_IMAGE={self.image}\nDS_IMAGE_TAG={self.tag}\n"
                f"DS_IMAGE_BUILT={'true' if self.built else 'false'}\n")


@dataclass(frozen=True)
class Source:
    """What the image is built from (the files hashed into its tag) and where it goes."""

    repo: Path
    registry_image: str                  # host[:port]/project path
    image_name: str = "notebook"         # under the registry image; "" for the image itself
    files: Sequence[str] = ()            # extra files or folders to hash
    build_args: Mapping[str, str] = field(default_factory=dict)
    dockerfile: str = "Dockerfile"       # relative to ``repo``
    context: str = "."                   # relative to ``repo``


@dataclass(frozen=True)
class Login:
    """The container registry's credentials; ``insecure``: plain HTTP, no TLS."""

    username: str | None = None
    password: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Storage:
    """buildah's image storage: ``--storage-driver`` (None: detected), ``--root``, ``--runroot``."""

    driver: str | None = None
    root: Path | None = None
    runroot: Path | None = None


def ensure_image(source: Source, login: Login = Login(), *, builder: str = "buildah",
                 storage: Storage = Storage(), dotenv: Path | None = None,
                 dry_run: bool = False, force: bool = False,
                 release_tag: str = "") -> BuildResult:
    """Build and push ``<registry_image>/<image_name>:<hash tag>`` unless the registry has it.

    ``release_tag``: the pipeline's production tag; when ``<image_name>:<release_tag>`` exists
    the jobs run in it and nothing is built (``DS_IMAGE_TAG`` stays the content hash).
    ``dry_run`` checks the registry and returns the steps it would run, but builds, pushes and
    writes nothing.
    """
    from runner.build.oci import ImageRef, RegistryClient  # requests: only when building

    chosen = get(builder)
    repo, args = source.repo, dict(source.build_args)
    hashed = content_hash(repo, source.files, args, dockerfile=source.dockerfile)
    ref = ImageRef.from_parts(source.registry_image, source.image_name, hashed.tag)
    image = str(ref)
    masker = masker_for(login.password)
    client = RegistryClient(ref.registry, login.username, login.password,
                            insecure=login.insecure)
    released = ImageRef(ref.registry, ref.repository, release_tag)
    if release_tag and not force and client.manifest_exists(released.repository, release_tag):
        logger.info("%s is released: the jobs run in %s, nothing to build", release_tag, released)
        return _finish(BuildResult(str(released), hashed.tag, hashed.digest, built=False,
                                   dry_run=dry_run), dotenv)
    present = client.manifest_exists(ref.repository, ref.tag)
    spec = BuildSpec(image=image, registry=ref.registry, dockerfile=(repo / source.dockerfile),
                     context=(repo / source.context), build_args=args,
                     username=login.username, password=login.password,
                     insecure=login.insecure, storage_driver=storage.driver,
                     storage_root=storage.root, storage_runroot=storage.runroot)
    build = force or not present
    steps = tuple(chosen.steps(spec)) if build else ()
    if present and not force:
        logger.info("%s is already in the registry: build skipped", image)
    elif dry_run:
        logger.info("dry run: would build and push %s with %s", image, chosen.name)
    else:
        logger.info("building %s with %s (inputs: %s)", image, chosen.name,
                    ", ".join(hashed.files))
        run_steps(steps, masker)
    return _finish(BuildResult(image, hashed.tag, hashed.digest, built=build and not dry_run,
                               dry_run=dry_run, steps=steps), dotenv)


def _finish(result: BuildResult, dotenv: Path | None) -> BuildResult:
    """Write the dotenv report (not in a dry run) and hand the result back."""
    if dotenv is not None and not result.dry_run:
        dotenv.parent.mkdir(parents=True, exist_ok=True)
        dotenv.write_text(result.dotenv(), encoding="utf-8")
    return result
