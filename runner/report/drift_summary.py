"""The drift section of the reports: the score's PSI and the features that drifted most, read
back from the metrics ``runner.monitor.drift.record_drift`` recorded (names in its docstring).

The per-feature metrics (four per feature) would swamp the metric table, so the table leaves them
out (:func:`is_column_metric`) and this section shows the top few instead; the run's
``metrics.json`` and GitLab's metrics report keep them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from runner.report.gates.base import number

SCORE_PSI = "drift/score_psi"
SCORE_KS_P = "drift/score_ks_p"
PSI_MAX = "drift/psi_max"
TOP = 5
_COLUMN = re.compile(r"^drift/(psi|ks|ks_p|missing)/(.+)$")


def _fmt(value: float | None) -> str:
    return "—" if value is None else number(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def is_column_metric(name: str) -> bool:
    """``drift/<psi|ks|ks_p|missing>/<column>``: one feature's drift measure."""
    return _COLUMN.match(name) is not None


def reading(psi: float) -> str:
    """The usual reading of a PSI value."""
    return "no significant shift" if psi < 0.1 else "moderate shift" if psi <= 0.25 else (
        "significant shift")


@dataclass(frozen=True)
class FeatureRow:
    column: str
    psi: float | None
    ks_p: float | None
    missing: float | None


def feature_rows(metrics: Mapping[str, float]) -> list[FeatureRow]:
    """One row per feature with drift metrics, the highest PSI first."""
    by_column: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        m = _COLUMN.match(name)
        if m:
            by_column.setdefault(m[2], {})[m[1]] = value
    rows = [FeatureRow(c, v.get("psi"), v.get("ks_p"), v.get("missing"))
            for c, v in by_column.items()]
    return sorted(rows, key=lambda r: (-(r.psi if r.psi is not None else -1.0), r.column))


def drift_section(metrics: Mapping[str, float], top: int = TOP) -> str:
    """Markdown: the score PSI line and a table of the ``top`` drifting features; "" when the
    run recorded no drift."""
    rows = feature_rows(metrics)
    score = metrics.get(SCORE_PSI)
    if score is None and not rows:
        return ""
    lines = []
    if score is not None:
        ks = metrics.get(SCORE_KS_P)
        extra = f", KS p-value {_fmt(ks)}" if ks is not None else ""
        lines.append(f"Score PSI **{_fmt(score)}** ({reading(score)}{extra}).")
    if rows:
        lines += ["", f"Top {min(top, len(rows))} of {len(rows)} features by PSI "
                  "(below 0.1 no significant shift, 0.1-0.25 moderate, above 0.25 significant):",
                  "", "| Feature | PSI | KS p-value | Missing-rate change |",
                  "|---|---:|---:|---:|"]
        lines += [f"| `{_cell(r.column)}` | {_fmt(r.psi)} | {_fmt(r.ks_p)} | "
                  f"{_fmt(r.missing)} |"
                  for r in rows[:top]]
    return "\n".join(lines)
