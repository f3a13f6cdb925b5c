"""Logging set-up for the CLI only; library modules just call ``logging.getLogger(__name__)``."""

from __future__ import annotations

import logging
import sys

from runner.masking import Masker, MaskingFilter, secret_values_from_env

_masker = Masker()


def masker() -> Masker:
    """The process-wide masker used by the log handler; commands add secrets they learn."""
    return _masker


def setup(verbose: int = 0) -> None:
    level = logging.WARNING if verbose < 0 else logging.DEBUG if verbose > 0 else logging.INFO
    _masker.add(secret_values_from_env())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter(_masker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("runner").setLevel(level)
