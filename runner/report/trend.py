"""The trend on a scheduled notebook's wiki page: drift and key metrics across runs, as a table
and a Mermaid line chart, above the table of runs.

The wiki page is rebuilt from its rows on every run (``runner.report.wiki_pages``), so each run's
row carries the numbers the trend needs in a hidden comment (``<!-- ds-trend:{json} -->``); the
trend is drawn from the rows on the page, newest :data:`POINTS` runs, oldest first. Only runs
that recorded drift (``runner.monitor.drift``) carry it, so training pages get no trend.

The chart is a Mermaid ``xychart-beta`` block (Mermaid 10.5 and later); where the wiki's Mermaid
is older the block shows as an error or as code, and the table holds the same numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from runner.monitor.names import PREFIX, PSI_MAX, SCORE_PSI, column_prefix, is_column_metric
from runner.report.gates.base import number

POINTS = 30          # runs in the trend
TOP_FEATURES = 3     # the most drifted features a row keeps, named under the trend
FEATURE_PSI = column_prefix("psi")
KEY_METRICS = 4      # the run's own metrics shown beside the drift, first recorded first
_DATA = re.compile(r"<!-- ds-trend:(\{.*?\}) -->")
DRIFT = ((SCORE_PSI, "score PSI"), (PSI_MAX, "worst feature PSI"))


def trend_data(metrics: Mapping[str, float]) -> dict[str, float] | None:
    """What a run's row keeps for the trend: the drift summary and the first key metrics; None
    when the run recorded no drift."""
    if SCORE_PSI not in metrics and PSI_MAX not in metrics:
        return None
    keys = [name for name, _ in DRIFT if name in metrics]
    keys += [n for n in metrics if not n.startswith(PREFIX)][:KEY_METRICS]
    keys += sorted((n for n in metrics if n.startswith(FEATURE_PSI)),
                   key=lambda n: -metrics[n])[:TOP_FEATURES]
    return {k: float(f"{metrics[k]:.6g}") for k in keys}     # 6 digits keep the row short


def encode(data: Mapping[str, float] | None) -> str:
    """The hidden comment for a row ("" for none); "--" cannot close it early."""
    if not data:
        return ""
    text = json.dumps(dict(data), separators=(",", ":"))
    text = text.replace("--", "-\\u002d").replace(">", "\\u003e")
    return f" <!-- ds-trend:{text} -->"


def decode(line: str) -> dict[str, float] | None:
    match = _DATA.search(line)
    if not match:
        return None
    try:
        data: Any = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def _label(when: str) -> str:
    """``2026-11-22 10:00:00`` -> ``11-22 10:00`` (the x axis stays short)."""
    return when[5:16] if len(when) >= 16 else when


def points_of(rows: Sequence[tuple[str, str]]) -> list[tuple[str, dict[str, float]]]:
    """``(time, data)`` of the rows that carry trend data, oldest first, from ``(time, line)``
    pairs newest first (the page's order)."""
    found = [(when, data) for when, line in rows if (data := decode(line))]
    return found[::-1]


def render_trend(points: Sequence[tuple[str, Mapping[str, float]]]) -> str:
    """Markdown for ``(time, data)`` points, oldest first; "" with no points."""
    points = list(points)[-POINTS:]
    if not points:
        return ""
    columns: list[str] = []
    for _, data in points:
        columns += [k for k in data if k not in columns and not is_column_metric(k)]
    names = dict(DRIFT)
    head = "| Time (UTC) | " + " | ".join(names.get(c, f"`{c}`") for c in columns) + " |"
    lines = ["## Trend", "",
             f"Drift and key metrics of the last {len(points)} runs, oldest first (PSI below 0.1: "
             "no significant shift, 0.1-0.25 moderate, above 0.25 significant).", "",
             head, "|---|" + "---:|" * len(columns)]
    for when, data in points:
        cells = [number(data[c]) if c in data else "—" for c in columns]
        lines.append(f"| {when} | " + " | ".join(cells) + " |")
    latest = {k[len(FEATURE_PSI):]: v for k, v in points[-1][1].items()
              if k.startswith(FEATURE_PSI)}
    if latest:
        lines += ["", "Most drifted features in the latest run (PSI): " + ", ".join(
            f"`{name}` {number(value)}" for name, value in latest.items()) + "."]
    drawn = [(key, label) for key, label in DRIFT if any(key in d for _, d in points)]
    if drawn:
        top = max(max(d.get(k, 0.0) for k, _ in drawn) for _, d in points)
        lines += ["", f"Lines: {', then '.join(label for _, label in drawn)}.", "", "```mermaid",
                  "xychart-beta", '    title "Drift (PSI) per run"',
                  "    x-axis [" + ", ".join(f'"{_label(w)}"' for w, _ in points) + "]",
                  f'    y-axis "PSI" 0 --> {number(max(0.3, top * 1.1))}']
        lines += ["    line [" + ", ".join(number(d.get(key, 0.0)) for _, d in points) + "]"
                  for key, _ in drawn]
        lines.append("```")
    return "\n".join(lines) + "\n\n"
