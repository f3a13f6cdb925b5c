"""Content hash of a container's inputs: the image tag changes exactly when they do.

The hash covers ``Dockerfile`` + ``requirements.txt`` + any extra files or directories (expanded
recursively) + the build arguments. It depends on the relative paths and the bytes of the files
only: not on the order they were named in, timestamps, file modes or where the repository is
checked out. Text files (no NUL byte) are hashed with CRLF line endings turned into LF, so a
Windows checkout with ``core.autocrlf`` gets the same tag as the Linux CI runner; binary files are
hashed as they are.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.errors import UsageError

DEFAULT_FILES = ("Dockerfile", "requirements.txt")
DEFAULT_PREFIX = "deps-"
TAG_HEX_CHARS = 16
# Bump when the hashing rules change, so old tags are never reused for a different meaning.
SCHEME = b"ds-pipeline-content-hash/v1\n"
# Directory entries never hashed when a directory is expanded.
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".ipynb_checkpoints", ".venv"})


@dataclass(frozen=True)
class ContentHash:
    """The sha256 digest (hex), the image tag derived from it, and the files that went in."""

    digest: str
    tag: str
    files: tuple[str, ...]
    build_args: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "tag": self.tag, "files": list(self.files),
                "build_args": list(self.build_args)}


def _expand(repo: Path, name: str) -> list[Path] | None:
    """The files ``name`` stands for (a file, or a directory's files); None when it is missing."""
    path = repo / name
    if path.is_file():
        return [path]
    if path.is_dir():
        return [p for p in path.rglob("*")
                if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(repo).parts)]
    return None


def collect_files(
    repo: Path, extra: Iterable[str] = (), dockerfile: str = DEFAULT_FILES[0]
) -> list[str]:
    """Relative POSIX paths of every hashed file, sorted and without duplicates."""
    repo = repo.resolve()
    found: set[str] = set()
    missing: list[str] = []
    for name in (dockerfile, *DEFAULT_FILES[1:], *extra):
        paths = _expand(repo, name)
        if paths is None:
            missing.append(name)
            continue
        for path in paths:
            try:
                found.add(Path(os.path.normpath(path)).relative_to(repo).as_posix())
            except ValueError:
                raise UsageError(f"hash input {name} is outside the repository {repo}") from None
    if missing:
        raise UsageError(f"hash input not found: {', '.join(missing)} (looked in {repo})")
    return sorted(found)


def normalise(content: bytes) -> bytes:
    """CRLF -> LF for text (no NUL byte); binary content unchanged."""
    return content if b"\0" in content else content.replace(b"\r\n", b"\n")


def content_hash(
    repo: Path,
    extra: Iterable[str] = (),
    build_args: Mapping[str, str] | None = None,
    prefix: str = DEFAULT_PREFIX,
    dockerfile: str = DEFAULT_FILES[0],
) -> ContentHash:
    """Hash the image inputs under ``repo``; raises UsageError naming a missing input."""
    repo = repo.resolve()
    files = collect_files(repo, extra, dockerfile)
    digest = hashlib.sha256(SCHEME)
    for rel in files:
        data = normalise((repo / rel).read_bytes())
        name = rel.encode("utf-8")
        # Length-prefixed fields: no two different inputs give the same byte stream.
        digest.update(b"file %d %s %d\n" % (len(name), name, len(data)))
        digest.update(data)
    args = tuple(f"{k}={v}" for k, v in sorted((build_args or {}).items()))
    for arg in args:
        encoded = arg.encode("utf-8")
        digest.update(b"arg %d %s\n" % (len(encoded), encoded))
    hexdigest = digest.hexdigest()
    return ContentHash(hexdigest, f"{prefix}{hexdigest[:TAG_HEX_CHARS]}", tuple(files), args)


def parse_build_args(values: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings -> dict; raises UsageError naming a malformed one."""
    result: dict[str, str] = {}
    for value in values:
        name, sep, arg = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--build-arg must be NAME=VALUE, got {value!r}")
        result[name.strip()] = arg
    return result
