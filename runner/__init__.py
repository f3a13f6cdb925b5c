"""ds-pipeline's notebook runner. ``from runner import record`` inside a notebook stays cheap."""

from __future__ import annotations

from runner.metrics import record, record_figure, record_info

__version__ = "0.1.0"
__all__ = ["__version__", "record", "record_figure", "record_info"]
