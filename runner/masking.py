"""Keep secrets out of every output: notebooks, HTML, metrics, comments, wiki pages and logs."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[MASKED]"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Shorter values would mask ordinary text ("1", "true"); GitLab itself refuses to mask
# variables under 8 characters, so 6 is already stricter than the platform.
MIN_SECRET_LENGTH = 6
_NOT_SECRET = {"true", "false", "none", "null", "yes", "no"}


def secret_values_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret (TOKEN, SECRET, KEY, ...)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if SECRET_NAME.search(name)]


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
            if len(value) >= MIN_SECRET_LENGTH and value.lower() not in _NOT_SECRET:
                self._secrets.add(value)
                # JSON-escaped form, so secrets inside serialised text are found too.
                self._secrets.add(json.dumps(value)[1:-1])
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_obj(self, obj: Any) -> Any:
        """Mask every string inside a JSON-like structure (keys too)."""
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, dict):
            return {self.mask_obj(k): self.mask_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.mask_obj(v) for v in obj]
        return obj


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
