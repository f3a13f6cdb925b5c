"""The metric names drift is recorded under: ``runner.monitor.drift`` writes them, the drift gate,
the comment's Drift section and the wiki trend read them. No pandas or numpy here, so the report
code can import it."""

from __future__ import annotations

import re

PREFIX = "drift/"
SCORE_PSI = "drift/score_psi"
SCORE_KS_P = "drift/score_ks_p"
PSI_MAX = "drift/psi_max"                      # the worst column's PSI
COLUMN_KINDS = ("psi", "ks", "ks_p", "missing")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_COLUMN = re.compile(rf"^{PREFIX}({'|'.join(COLUMN_KINDS)})/(.+)$")


def metric_key(name: str) -> str:
    """A column name as a metric-name segment: ``mean radius`` -> ``mean_radius``."""
    return (_UNSAFE.sub("_", str(name)).strip("_") or "column")[:80]


def column_metric(kind: str, column: str) -> str:
    """``drift/<kind>/<column key>``; ``kind`` is one of :data:`COLUMN_KINDS`."""
    return f"{PREFIX}{kind}/{metric_key(column)}"


def column_prefix(kind: str) -> str:
    """``drift/<kind>/``: where one measure of every column is recorded."""
    return f"{PREFIX}{kind}/"


def split_column_metric(name: str) -> tuple[str, str] | None:
    """``drift/psi/mean_radius`` -> (``psi``, ``mean_radius``); None for any other name."""
    match = _COLUMN.match(name)
    return (match[1], match[2]) if match else None


def is_column_metric(name: str) -> bool:
    """``drift/<psi|ks|ks_p|missing>/<column>``: one feature's drift measure, which the Drift
    section shows and the metric tables leave out."""
    return _COLUMN.match(name) is not None
