"""The content key of a notebook run: what its results depend on, hashed.

Two runs with the same key ran the same notebook on the same config, the same declared data
inputs, in the same image with the same ds-runner, so the later one can reuse the earlier one's
results instead of training again (docs/commands/detect.md, "Reuse"). The key covers:

* the notebook file;
* its config file (``ds_runner.config`` in the notebook metadata, else the default of
  :func:`runner.config.default_config_for`; missing is hashed as missing);
* the data inputs it declares: ``ds_runner.inputs`` in the notebook metadata, a list of
  repository-relative globs (``**`` spans folders; a folder stands for its files);
* the notebook image tag (``DS_IMAGE_TAG`` from build-container, the same when a released
  tag's jobs run in ``:<tag>``; else the image: ``DS_IMAGE``, in a child job ``DS_CHILD_IMAGE``);
* the ds-runner version.

Execute records it as ``info.content_key`` in ``metrics.json``; detect computes it for the
commit it checks out to find an earlier run with the same key. Parameters passed with
``execute_args`` are not part of it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.build.hashing import SKIPPED_DIRS, normalise
from runner.config import default_config_for
from runner.errors import ConfigError
from runner.paths import OUTPUT_DIR

SCHEME = b"ds-pipeline-content-key/v1\n"
PREFIX = "ck1-"
INFO_KEY = "content_key"          # the metrics.json info entry
IMAGE_VARIABLES = ("DS_IMAGE_TAG", "DS_IMAGE", "DS_CHILD_IMAGE")


@dataclass(frozen=True)
class KeyInputs:
    """What went into a key, for the log and detect.json."""

    key: str
    notebook: str
    config: str
    inputs: tuple[str, ...]
    image: str
    runner_version: str

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "notebook": self.notebook, "config": self.config,
                "inputs": list(self.inputs), "image": self.image,
                "runner_version": self.runner_version}


def image_of(environ: Mapping[str, str]) -> str:
    """The notebook image the runs use: build-container's content-hash tag, else its image (a
    value still reading ``$NAME`` is a variable GitLab could not expand: not an image)."""
    values = (environ.get(v, "").strip() for v in IMAGE_VARIABLES)
    return next((v for v in values if v and not v.startswith("$")), "")


def declared_inputs(metadata: Mapping[str, Any], where: str) -> list[str]:
    """``ds_runner.inputs`` of a notebook's metadata: a glob or a list of them."""
    raw = (metadata.get("ds_runner") or {}).get("inputs", [])
    globs = [raw] if isinstance(raw, str) else raw
    if not isinstance(globs, list) or not all(isinstance(g, str) and g.strip() for g in globs):
        raise ConfigError(f"{where}: metadata ds_runner.inputs must be a list of globs, got "
                          f"{raw!r}")
    for glob in globs:
        if glob.startswith("/") or ".." in glob.split("/") or "\\" in glob:
            raise ConfigError(f"{where}: ds_runner.inputs {glob!r} must be a relative path "
                              "inside the repository")
    return [posixpath.normpath(g.strip()) for g in globs]


def _skipped(rel: Path) -> bool:
    return bool(SKIPPED_DIRS.intersection(rel.parts)) or rel.parts[:1] == (OUTPUT_DIR,)


def expand_inputs(repo: Path, globs: Iterable[str]) -> list[str]:
    """The files the globs match under ``repo`` (folders expanded), sorted, POSIX paths."""
    found: set[str] = set()
    for glob in globs:
        for path in repo.glob(glob):
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            for file in files:
                rel = file.relative_to(repo)
                if file.is_file() and not _skipped(rel):
                    found.add(rel.as_posix())
    return sorted(found)


def _field(digest: Any, kind: bytes, name: str, data: bytes | None) -> None:
    """Length-prefixed fields: no two different inputs give the same byte stream."""
    encoded = name.encode("utf-8", "surrogateescape")
    size = b"-" if data is None else str(len(data)).encode()
    digest.update(b"%s %d %s %s\n" % (kind, len(encoded), encoded, size))
    if data is not None:
        digest.update(data)


def _read(path: Path) -> bytes | None:
    return normalise(path.read_bytes()) if path.is_file() else None


def content_key(repo: Path, notebook: str, *, config: str | None = None, image: str,
                runner_version: str, metadata: Mapping[str, Any] | None = None) -> KeyInputs:
    """The key of ``notebook`` (repository-relative) as checked out under ``repo``. ``config``
    is the config file the run gets (default: the notebook's own default); ``metadata`` the
    notebook's metadata when the caller has it parsed already."""
    repo = repo.resolve()
    source = repo / notebook
    if metadata is None:
        try:
            metadata = json.loads(source.read_bytes()).get("metadata") or {}
        except (OSError, ValueError, AttributeError) as e:
            raise ConfigError(f"{notebook}: cannot read its metadata for the content key: "
                              f"{e}") from e
    # ./training_config.yaml and training_config.yaml are one file: one key for detect, which
    # reads the notebook's metadata, and execute, which resolves the path
    config = posixpath.normpath(config or default_config_for(notebook, metadata))
    inputs = expand_inputs(repo, declared_inputs(metadata, notebook))
    digest = hashlib.sha256(SCHEME)
    _field(digest, b"notebook", notebook, _read(source))
    _field(digest, b"config", config, _read(repo / config))
    for rel in inputs:
        _field(digest, b"input", rel, _read(repo / rel))
    _field(digest, b"image", image, None)
    _field(digest, b"runner", runner_version, None)
    return KeyInputs(PREFIX + digest.hexdigest(), notebook, config, tuple(inputs), image,
                     runner_version)
