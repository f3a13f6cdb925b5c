"""The drift section of the reports: the score's PSI and the features that drifted most, read
back from the metrics ``runner.monitor.drift.record_drift`` recorded (names in its docstring).

The per-feature metrics (four per feature) would swamp the metric table, so the table leaves them
out (:func:`is_column_metric`) and this section shows the top few instead; the run's
``metrics.json`` and GitLab's metrics report keep them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runner.monitor.names import SCORE_KS_P, SCORE_PSI, split_column_metric
from runner.report.render import cell, fmt

TOP = 5


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
        split = split_column_metric(name)
        if split:
            by_column.setdefault(split[1], {})[split[0]] = value
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
        extra = f", KS p-value {fmt(ks)}" if ks is not None else ""
        lines.append(f"Score PSI **{fmt(score)}** ({reading(score)}{extra}).")
    if rows:
        lines += ["", f"Top {min(top, len(rows))} of {len(rows)} features by PSI "
                  "(below 0.1 no significant shift, 0.1-0.25 moderate, above 0.25 significant):",
                  "", "| Feature | PSI | KS p-value | Missing-rate change |",
                  "|---|---:|---:|---:|"]
        lines += [f"| `{cell(r.column)}` | {fmt(r.psi)} | {fmt(r.ks_p)} | "
                  f"{fmt(r.missing)} |"
                  for r in rows[:top]]
    return "\n".join(lines)
