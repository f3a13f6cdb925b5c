"""The merge-request comment: one living note per MR, found again by its hidden marker.

The note ends with a hidden, machine-readable history block (JSON inside an HTML comment); the
next pipeline parses it back and shows earlier runs in a collapsed, bounded table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from runner.monitor.names import is_column_metric
from runner.report.drift_summary import drift_section
from runner.report.render import (
    NotebookReport,
    RunContext,
    baseline_line,
    cell,
    failure_block,
    figures,
    fmt,
    gate_table,
    link,
    metrics_inline,
    metrics_table,
    run_links,
    short_sha,
    status_badge,
)

MARKER = "<!-- ds-pipeline:metrics-comment -->"
HISTORY_OPEN = "<!-- ds-pipeline:history "
HISTORY_CLOSE = " -->"
MAX_HISTORY = 20               # entries kept, the current pipeline included
MAX_HISTORY_CHARS = 100_000    # the JSON block's size cap
MAX_BODY_CHARS = 900_000       # GitLab refuses notes above 1,000,000 characters
_HISTORY = re.compile(re.escape(HISTORY_OPEN) + r"(.*?)" + re.escape(HISTORY_CLOSE), re.S)


def history_entry(reports: Sequence[NotebookReport], ctx: RunContext) -> dict[str, Any]:
    return {"pipeline_id": ctx.pipeline_id, "pipeline_url": ctx.pipeline_url,
            "commit": ctx.commit_sha, "time": ctx.time,
            "notebooks": {r.notebook: {"status": r.result.status,
                                       "metrics": {k: v for k, v in r.result.metrics.items()
                                                   if not is_column_metric(k)}}
                          for r in reports}}


def parse_history(body: str) -> list[dict[str, Any]]:
    """Entries stored in an earlier comment body, newest first; [] when absent or unreadable."""
    match = _HISTORY.search(body or "")
    if not match:
        return []
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return []
    if not isinstance(data, list):
        return []
    return [e for e in data if isinstance(e, dict) and isinstance(e.get("notebooks"), dict)]


def merge_history(current: dict[str, Any], earlier: list[dict[str, Any]],
                  limit: int = MAX_HISTORY) -> list[dict[str, Any]]:
    """Current entry first; a re-run of the same pipeline replaces its old entry."""
    pid = current.get("pipeline_id")
    rest = [e for e in earlier if not (pid and e.get("pipeline_id") == pid)]
    return [current, *rest][:limit]


def encode_history(entries: list[dict[str, Any]], max_chars: int = MAX_HISTORY_CHARS) -> str:
    """The hidden block, dropping the oldest entries until it fits ``max_chars``."""
    entries = list(entries)
    while True:
        # "--" never occurs outside JSON strings; escaping it keeps the HTML comment closed.
        text = json.dumps(entries, separators=(",", ":")).replace("--", "-\\u002d")
        if len(text) <= max_chars or not entries:
            return f"{HISTORY_OPEN}{text}{HISTORY_CLOSE}"
        entries.pop()


def _history_table(entries: list[dict[str, Any]]) -> str:
    earlier = entries[1:]
    if not earlier:
        return ""
    lines = [f"<details><summary>History: {len(earlier)} earlier pipeline"
             f"{'s' if len(earlier) != 1 else ''}</summary>", "",
             "| Pipeline | Time | Commit | Notebook | Status | Metrics |",
             "|---|---|---|---|---|---|"]
    for e in earlier:
        pid = str(e.get("pipeline_id") or "")
        pipeline = link(f"#{pid}" if pid else "run", str(e.get("pipeline_url") or ""))
        for nb, data in sorted(e["notebooks"].items()):
            metrics = data.get("metrics") if isinstance(data, dict) else None
            status = data.get("status", "") if isinstance(data, dict) else ""
            lines.append(f"| {pipeline} | {cell(str(e.get('time') or ''))} | "
                         f"`{short_sha(str(e.get('commit') or ''))}` | `{cell(nb)}` | "
                         f"{status_badge(str(status))} | "
                         f"{metrics_inline(metrics if isinstance(metrics, dict) else {})} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def _section(rep: NotebookReport, ctx: RunContext) -> str:
    res = rep.result
    parts = [f"### {status_badge(res.status)} — `{cell(res.notebook)}`"]
    facts = [f"{res.duration_s:.1f} s on {res.device}" if res.duration_s else "",
             run_links(rep, ctx)]
    parts.append(" · ".join(f for f in facts if f))
    failure = failure_block(res)
    if failure:
        parts.append(failure)
    columns = [(ctx.target_label or "target branch", rep.target),
               (ctx.production_label or "production", rep.production)]
    parts += ["#### Metrics", metrics_table(rep, columns), baseline_line(rep)]
    drift = drift_section(res.metrics)
    if drift:
        parts += ["#### Drift", drift]
    parts += ["#### Validation gates", gate_table(rep.gates)]
    pics = figures(rep)
    if pics:
        parts += ["#### Figures", pics]
    return "\n\n".join(p for p in parts if p)


def _header(reports: Sequence[NotebookReport], ctx: RunContext) -> str:
    failed = [r for r in reports if not r.result.ok]
    summary = (f"❌ {len(failed)} of {len(reports)} notebooks failed" if failed
               else f"✅ {len(reports)} notebook{'s' if len(reports) != 1 else ''} succeeded")
    where = []
    if ctx.pipeline_id or ctx.pipeline_url:
        where.append(link(f"pipeline #{ctx.pipeline_id}" if ctx.pipeline_id else "pipeline",
                          ctx.pipeline_url))
    if ctx.commit_sha:
        where.append(link(f"`{short_sha(ctx.commit_sha)}`", ctx.commit_url))
    if ctx.time:
        where.append(ctx.time)
    target = (f"`{ctx.target_label}` ({ctx.target_note})" if ctx.target_label
              else "the target branch")
    prod = f"production release `{ctx.production_label}`" if ctx.production_label else (
        "the latest production release (none yet)")
    return (f"## Notebook results: {summary}\n\n{' · '.join(where)}\n\n"
            f"Compared with {target} and {prod}. ↑ higher is better, ↓ lower is better.")


def render_comment(reports: Sequence[NotebookReport], ctx: RunContext,
                   earlier: list[dict[str, Any]] | None = None) -> str:
    """The full note body: marker, summary, one section per notebook, history (unmasked: the
    sink masks what it writes)."""
    entries = merge_history(history_entry(reports, ctx), earlier or [])
    sections = [_section(r, ctx) for r in reports] or ["_No notebook results found._"]
    body = "\n\n".join([MARKER, _header(reports, ctx), *sections])
    history = _history_table(entries)
    block = encode_history(entries)
    if len(body) + len(history) + len(block) > MAX_BODY_CHARS:
        history, block = "", encode_history(entries[:1])
    if len(body) + len(block) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - len(block) - 100] + "\n\n… (truncated)"
    return "\n\n".join(p for p in (body, history, block) if p) + "\n"


def latest_metrics(entries: list[dict[str, Any]], notebook: str) -> dict[str, float] | None:
    """The newest recorded metrics of ``notebook`` in a history (the local baseline)."""
    for e in entries:
        data = e["notebooks"].get(notebook)
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            return {str(k): float(v) for k, v in data["metrics"].items()
                    if isinstance(v, int | float)}
    return None


__all__ = ["MARKER", "fmt", "latest_metrics", "parse_history", "render_comment"]
