"""ds-pipeline's notebook runner. ``from runner import record`` inside a notebook stays cheap."""

from __future__ import annotations

from typing import Any

from runner.metrics import record, record_check, record_figure, record_info

__version__ = "0.1.0"
__all__ = ["__version__", "check_data", "record", "record_check", "record_figure", "record_info",
           "record_slices"]

# Helpers that need pandas or numpy, imported on first use so ``import runner`` stays cheap.
_LAZY = {"check_data": "runner.monitor.checks", "record_slices": "runner.monitor.slices"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'runner' has no attribute {name!r}")
