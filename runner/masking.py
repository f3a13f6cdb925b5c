"""Keep secrets out of every output: notebooks, HTML, metrics, comments, wiki pages, logs, and the
files a notebook writes itself.

Masking replaces text and values, never structure: dictionary keys of our own files and of the
notebook format, cell and output types, tags and the kernel's name stay as they are, so a secret
that happens to equal a field name (``JOIN_KEY=outputs``) cannot break a run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MASK = "[MASKED]"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Shorter values would mask ordinary text ("1", "true"); GitLab itself refuses to mask
# variables under 8 characters, so 6 is already stricter than the platform.
MIN_SECRET_LENGTH = 6
_NOT_SECRET = {"true", "false", "none", "null", "yes", "no"}
# Output data that is binary (base64) and so cannot contain a readable secret; not scanned.
BINARY_MIME = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
# Notebook fields that are structure, not text: nbformat's schema and the kernel's identity.
_STRUCTURE = frozenset({"cell_type", "output_type", "id", "execution_count", "nbformat",
                        "nbformat_minor", "tags", "kernelspec", "language_info"})
# Files up to this size are read whole and rewritten when masked; bigger ones and binary files
# are only searched (in chunks, in constant memory) and named in a warning when they hold one.
TEXT_LIMIT = 16 * 2**20
_CHUNK = 4 * 2**20


def secret_values_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret (TOKEN, SECRET, KEY, ...)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if SECRET_NAME.search(name)]


def forms(value: str) -> set[str]:
    """A secret as given and as it appears escaped: JSON strings (ASCII-only or not, as in
    saved notebooks and metrics) and Python's repr (tracebacks, ``print(repr(x))``)."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value)[1:-1]}


class Masker:
    """Replaces every known secret value with ``[MASKED]``; longest values first."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    @classmethod
    def from_env(
        cls, extra: Iterable[str] = (), environ: Mapping[str, str] | None = None
    ) -> Masker:
        return cls([*secret_values_from_env(environ), *extra])

    def add(self, secrets: Iterable[str]) -> None:
        for value in secrets:
            value = str(value).strip()
            if len(value) >= MIN_SECRET_LENGTH and value.lower() not in _NOT_SECRET \
                    and value not in MASK:
                self._secrets |= forms(value)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_obj(self, obj: Any, keys: bool = False) -> Any:
        """Mask every string value inside a JSON-like structure; keys only with ``keys=True``
        (for content such as a parameter's dict value, not for a file's own fields)."""
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            return {(self.mask(k) if keys and isinstance(k, str) else k): self.mask_obj(v, keys)
                    for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.mask_obj(v, keys) for v in obj]
        return obj

    def mask_notebook(self, nb: Any, key: str = "") -> Any:
        """A masked copy of a notebook (a plain dict or nbformat node): sources, outputs,
        tracebacks and metadata values; keys, types, tags, kernel and binary data are kept."""
        if key in _STRUCTURE or key in BINARY_MIME:
            return nb
        if key == "application/json" or key.endswith("+json"):  # JSON output: keys are content
            return self.mask_obj(nb, keys=True)
        if isinstance(nb, str):
            return self.mask(nb)
        if isinstance(nb, list):
            return [self.mask_notebook(v, key) for v in nb]
        if not isinstance(nb, dict):
            return nb
        stream = nb.get("output_type") == "stream"
        return {k: v if stream and k == "name" else self.mask_notebook(v, k)
                for k, v in nb.items()}

    def _needles(self) -> list[bytes]:
        return sorted({s.encode("utf-8") for s in self._secrets}, key=len, reverse=True)

    def sweep(self, roots: Iterable[Path], exclude: Collection[Path] = (),
              since: float | None = None) -> list[Path]:
        """Mask every text file under ``roots`` in place; return (and name in a warning) the
        files that still hold a secret because they are binary or over TEXT_LIMIT.

        Paths in ``exclude`` (files or folders) are skipped, symbolic links are not followed,
        and a file that cannot be read or written is reported, never raised. With ``since`` (a
        time.time() value) only files created or changed since then are read: their inode
        change time, which copying with the old modification time does not hide.
        """
        if not self:
            return []
        needles = self._needles()
        left: list[Path] = []
        for root in roots:
            for folder, dirs, files in os.walk(root):
                here = Path(folder)
                dirs[:] = [d for d in dirs if here / d not in exclude]
                for name in files:
                    path = here / name
                    if path in exclude:
                        continue
                    try:
                        info = path.lstat()
                        if not stat.S_ISREG(info.st_mode) or (since and info.st_ctime < since):
                            continue
                        if not self._sweep_file(path, needles):
                            left.append(path)
                    except OSError as e:
                        logger.warning("could not check %s for secrets: %s", path, e)
        for path in left:
            logger.warning("%s holds a secret value but is binary or larger than %d MiB, so it "
                           "was not masked; keep secrets out of it", path, TEXT_LIMIT // 2**20)
        return left

    def _sweep_file(self, path: Path, needles: list[bytes]) -> bool:
        """Mask one file; False when it holds a secret that could not be masked."""
        if path.stat().st_size > TEXT_LIMIT:
            return not _contains(path, needles)
        data = path.read_bytes()
        if not any(n in data for n in needles):
            return True
        try:
            text = data.decode("utf-8") if b"\0" not in data else None
        except UnicodeDecodeError:
            text = None
        if text is None:
            return False
        tmp = path.with_name(f".{path.name}.ds-runner-masking")
        tmp.write_bytes(self.mask(text).encode("utf-8"))
        shutil.copymode(path, tmp)
        tmp.replace(path)
        return True


def _contains(path: Path, needles: list[bytes]) -> bool:
    """Whether a file holds any of ``needles``, read in chunks that overlap by a needle."""
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            window = tail + chunk
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:] if overlap else b""
    return False


def masker_for(*secrets: str | None) -> Masker:
    """What ds-runner masks what it writes with: the values of secret-looking variables plus the
    secrets it was handed (GITLAB_TOKEN, CI_JOB_TOKEN, a registry password); empty ones skipped."""
    return Masker.from_env([s for s in secrets if s])


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if self.masker:
            message = record.getMessage()
            masked = self.masker.mask(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True
