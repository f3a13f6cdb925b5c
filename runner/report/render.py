"""Markdown building blocks shared by the MR comment, the wiki pages and the release notes.

Pure functions over :class:`NotebookReport` (one notebook's result plus what it is compared
with) and :class:`RunContext` (where the run happened). Nothing here talks to GitLab.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.metrics import RunResult
from runner.monitor.names import is_column_metric
from runner.report.gates import GateResult
from runner.report.gates.base import number
from runner.report.gates.slices import Sliced

STATUS_ICONS = {"success": "✅", "failed": "❌", "timeout": "⏱️", "kernel_died": "💀",
                "interrupted": "🛑", "terminated": "🛑", "error": "⚠️"}
NO_BASELINE = "no baseline yet"
MAX_ERROR_CHARS = 4000
# metrics.json "artifacts" keys (runner/execute/notebook.py) -> link text; some are not worth
# a link.
ARTIFACT_LABELS = {"notebook": "executed notebook", "html": "executed notebook (HTML)"}
HIDDEN_ARTIFACTS = {"metrics_report"}


@dataclass
class RunContext:
    """Where a run happened; empty strings mean "unknown" (links are then left out)."""

    pipeline_id: str = ""
    pipeline_url: str = ""
    job_url: str = ""
    commit_sha: str = ""
    commit_url: str = ""
    time: str = ""                      # ISO 8601 UTC, e.g. 2026-11-22T16:00:00Z
    target_label: str = ""              # e.g. "main"; column header of the target baseline
    target_note: str = "newest successful job that ran each notebook"
    production_label: str = ""          # e.g. "v0.9.0"; "" when there is no production release


@dataclass(frozen=True)
class BaselineOrigin:
    """Where a target-branch baseline came from: the job, its pipeline and commit; with no
    baseline, how many jobs of the branch were searched."""

    ref: str
    commit_sha: str = ""
    commit_url: str = ""
    pipeline_id: int | None = None
    pipeline_url: str = ""
    job_id: int | None = None
    job_url: str = ""
    searched: int | None = None         # jobs looked at (None: no job list was read)
    note: str = ""                      # why the search stopped short, if it did


@dataclass
class NotebookReport:
    """One notebook's run and its baselines (``None``: no baseline yet)."""

    result: RunResult
    target: Mapping[str, float] | None = None
    target_origin: BaselineOrigin | None = None
    production: Mapping[str, float] | None = None
    directions: Mapping[str, str] = field(default_factory=dict)
    gates: list[GateResult] = field(default_factory=list)
    figure_urls: dict[str, str] = field(default_factory=dict)     # name -> URL
    artifact_urls: dict[str, str] = field(default_factory=dict)   # name -> URL

    @property
    def notebook(self) -> str:
        return self.result.notebook


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def short_sha(sha: str) -> str:
    return sha[:8]


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def link(text: str, url: str) -> str:
    return f"[{text}]({url})" if url else text


def status_badge(status: str) -> str:
    return f"{STATUS_ICONS.get(status, '❔')} {status}"


def delta(value: float | None, base: float | None, direction: str) -> str:
    """``▲ +0.012 (+1.3%) 🟢 better``: the arrow is the change, the dot whether it is good."""
    if value is None or base is None:
        return "—"
    diff = value - base
    if diff == 0:
        return "= 0"
    arrow = "▲" if diff > 0 else "▼"
    good = (diff > 0) == (direction != "lower")
    rel = f" ({diff / abs(base):+.1%})" if base else ""
    return f"{arrow} {diff:+.4g}{rel} {'🟢 better' if good else '🔴 worse'}"


def metrics_table(rep: NotebookReport,
                  columns: Sequence[tuple[str, Mapping[str, float] | None]]) -> str:
    """Value per metric plus, per baseline column, its value and the direction-aware delta."""
    metrics, slices = rep.result.metrics, rep.result.slices
    names = list(metrics) + [n for n in slices if n not in metrics]
    names += sorted({n for _, base in columns for n in (base or {})} - set(names))
    names = [n for n in names if not is_column_metric(n)]    # the drift section shows those
    if not names:
        return "_No metrics recorded._"
    head = "| Metric | Value |" + "".join(f" {cell(t)} | Δ vs {cell(t)} |" for t, _ in columns)
    lines = [head, "|---|---:|" + "---:|---|" * len(columns)]
    for name in names:
        value = metrics.get(name)
        direction = rep.directions.get(name, "higher")
        arrow = "↓" if direction == "lower" else "↑"
        row = [f"`{cell(name)}` {arrow}", (fmt(value) if value is not None else "not recorded")
               + worst_slice(slices.get(name), direction)]
        for _, base in columns:
            if base is None:
                row += [NO_BASELINE, "—"]
            else:
                row += [fmt(base.get(name)), delta(value, base.get(name), direction)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def worst_slice(recorded: Mapping[str, Any] | None, direction: str) -> str:
    """`` · worst size_band `large` 0.87`` after a metric recorded per slice, else ""."""
    if not recorded:
        return ""
    sliced = Sliced.of(recorded)
    if not sliced.values:
        return f" · no slice of {cell(sliced.by)} scored"
    worst, _ = sliced.worst_and_best(direction == "lower")
    return f" · worst {cell(sliced.by)} `{cell(worst)}` {fmt(sliced.values[worst])}"


def gate_table(rows: Sequence[GateResult], *, plain: bool = False, title: str = "") -> str:
    """The gate table: Markdown for the comment and release notes or, with ``plain``, aligned
    text for the job log (under ``title``)."""
    dash, show = ("-", number) if plain else ("—", fmt)
    cells = [(r, dash if not r.has_value else "missing" if r.value is None else show(r.value),
              dash if r.limit is None else show(r.limit)) for r in rows]
    if plain:
        lines = [title] if title else []
        if not rows:
            lines.append("  (no gates configured)")
        lines += [f"  {'PASS' if r.passed else 'FAIL'}  {r.gate:<13} {r.metric:<20} "
                  f"value={value:<12} limit={limit:<12} {r.detail}" for r, value, limit in cells]
        return "\n".join(lines)
    if not rows:
        return "_No validation gates configured._"
    failed = sum(not r.passed for r in rows)
    head = ("All validation gates passed." if not failed
            else f"**{failed} of {len(rows)} validation gates failed.**")
    lines = [head, "", "| Gate | Metric | Value | Limit | Result | Detail |",
             "|---|---|---:|---:|---|---|"]
    lines += [f"| {r.gate} | `{cell(r.metric)}` | {value} | {limit} | "
              f"{'✅ pass' if r.passed else '❌ fail'} | {cell(r.detail)} |"
              for r, value, limit in cells]
    return "\n".join(lines)


def fence(text: str, lang: str = "") -> str:
    """A fenced block that cannot be closed early by backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text}\n{ticks}"


def failure_block(result: RunResult) -> str:
    """Collapsed failing cell and exception; "" for a successful run."""
    if result.ok:
        return ""
    err = result.error
    if err is None:
        return f"The run ended with status **{result.status}** (no cell error recorded)."
    where = f"cell {err.cell_index}" if err.cell_index is not None else "an unknown cell"
    evalue = err.evalue if len(err.evalue) <= MAX_ERROR_CHARS else (
        err.evalue[:MAX_ERROR_CHARS] + " … (truncated)")
    return (f"<details><summary>Failed in {where}: <code>{cell(err.ename)}</code></summary>\n\n"
            f"{fence(f'{err.ename}: {evalue}')}\n\n</details>")


def run_links(rep: NotebookReport, ctx: RunContext) -> str:
    parts = []
    job_url = job_url_of(rep.result, ctx)
    if job_url:
        parts.append(link("job", job_url))
    order = list(ARTIFACT_LABELS)
    for name, url in sorted(rep.artifact_urls.items(), key=lambda kv: (
            order.index(kv[0]) if kv[0] in order else len(order), kv[0])):
        if name not in HIDDEN_ARTIFACTS:
            parts.append(link(ARTIFACT_LABELS.get(name, name.replace("_", " ")), url))
    mlflow = rep.result.info.get("mlflow_run_url", "")
    if mlflow:
        parts.append(link("MLflow run", mlflow))
    return " · ".join(parts)


def baseline_line(rep: NotebookReport) -> str:
    """``Baseline on `main`: commit `abc12345` · pipeline #12 · job #34``, or how far the
    search went when there is none; "" when the report has no target-branch search."""
    origin = rep.target_origin
    if origin is None:
        return ""
    where = f"`{cell(origin.ref)}`"
    note = f"; {cell(origin.note)}" if origin.note else ""
    if rep.target is None:
        searched = (f" (searched {origin.searched} job{'s' if origin.searched != 1 else ''} "
                    f"for {where})") if origin.searched is not None else ""
        return f"Baseline on {where}: {NO_BASELINE}{searched}{note}"
    parts = []
    if origin.commit_sha:
        parts.append("commit " + link(f"`{short_sha(origin.commit_sha)}`", origin.commit_url))
    if origin.pipeline_id is not None:
        parts.append(link(f"pipeline #{origin.pipeline_id}", origin.pipeline_url))
    if origin.job_id is not None:
        parts.append(link(f"job #{origin.job_id}", origin.job_url))
    return f"Baseline on {where}: {' · '.join(parts) or cell(origin.note)}"


def job_url_of(result: RunResult, ctx: RunContext) -> str:
    """The job that ran the notebook: ``info.job_url`` when the run recorded it, else the
    current job (``CI_JOB_URL``)."""
    return result.info.get("job_url") or ctx.job_url


def figures(rep: NotebookReport) -> str:
    return "\n".join(f"![{cell(name)}]({url})" for name, url in rep.figure_urls.items())


def checks_inline(checks: Mapping[str, Mapping[str, Any]], limit: int = 3) -> str:
    """The checks a run recorded (``runner.check_data``) in a few words for one-line rows:
    ``checks 9/9 ✅``, or ``❌ checks 7/9: `data/input/nulls`, …``; "" when it recorded none."""
    if not checks:
        return ""
    bad = [name for name, check in checks.items() if not check.get("passed")]
    passed = f"{len(checks) - len(bad)}/{len(checks)}"
    if not bad:
        return f"checks {passed} ✅"
    named = ", ".join(f"`{cell(name)}`" for name in bad[:limit])
    return f"❌ checks {passed}: {named}{', …' if len(bad) > limit else ''}"


def metrics_inline(metrics: Mapping[str, float], limit: int = 12) -> str:
    metrics = {n: v for n, v in metrics.items() if not is_column_metric(n)}   # per-feature drift
    items = [f"{name} {fmt(value)}" for name, value in list(metrics.items())[:limit]]
    if len(metrics) > limit:
        items.append(f"… +{len(metrics) - limit}")
    return cell(", ".join(items)) or "—"
