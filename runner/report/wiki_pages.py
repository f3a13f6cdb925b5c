"""The wiki run log: one page per notebook (a table of runs, newest first), an index page and an
archive page per notebook for rows beyond the bound. Pure rendering and parsing (unmasked:
the writer in ``runner.report.pages`` masks what it writes); rows carry a
hidden key so concurrent writers can merge instead of overwriting each other.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from runner.metrics import RunResult
from runner.paths import notebook_stem
from runner.report.render import (
    RunContext,
    cell,
    checks_inline,
    link,
    metrics_inline,
    short_sha,
    status_badge,
)
from runner.report.trend import encode, points_of, render_trend, trend_data

PAGE_MARKER = "<!-- ds-pipeline:wiki-runs -->"
INDEX_MARKER = "<!-- ds-pipeline:wiki-index -->"
MAX_ROWS = 500
_ROW_KEY = re.compile(r"<!-- ds-(?:run|nb):(.*?) -->")
RUN_HEADER = ("| Time (UTC) | Pipeline | Job | Commit | Status | Metrics |\n"
              "|---|---|---|---|---|---|")
INDEX_HEADER = ("| Notebook | Last run (UTC) | Status | Metrics |\n"
                "|---|---|---|---|")

UrlFor = Callable[[str], str]   # slug -> link target


@dataclass(frozen=True)
class Layout:
    """Page slugs: ``<prefix>/<notebook path without .ipynb>`` and friends."""

    prefix: str = "ds-pipeline"

    def _join(self, *parts: str) -> str:
        path = posixpath.normpath("/".join(p.strip("/") for p in (self.prefix, *parts) if p))
        return path.lstrip("/").replace(" ", "-")

    def page(self, notebook: str) -> str:
        return self._join(_stem(notebook))

    def archive(self, notebook: str) -> str:
        return self._join("archive", _stem(notebook))

    @property
    def index(self) -> str:
        return self._join("index")


def _stem(notebook: str) -> str:
    return posixpath.normpath("/" + notebook_stem(notebook).replace("\\", "/")).lstrip("/")


@dataclass(frozen=True)
class Row:
    key: str    # sortable; runs: "<time>;<pipeline>", index: the notebook path
    line: str   # the Markdown table row, hidden key included


def _key(text: str) -> str:
    """A row key that is safe inside an HTML comment and a table cell."""
    return " ".join(text.split()).replace("|", "%7C").replace("--", "-%2D").replace(">", "%3E")


def _iso(text: str) -> str:
    """A sortable UTC time ``YYYY-MM-DD HH:MM:SS`` from ISO 8601 text."""
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)", text or "")
    return f"{m.group(1)} {m.group(2)}" if m else (text or "")


def _status(result: RunResult) -> str:
    """The run's status and, when it recorded any, its checks: a scoring run whose input failed
    its data checks with ``on_fail: record`` succeeded, and the wiki must not show it green."""
    checks = checks_inline(result.checks)
    return status_badge(result.status) + (f" · {checks}" if checks else "")


def run_row(result: RunResult, ctx: RunContext) -> Row:
    when = _iso(result.started_at or ctx.time)
    # Same run, same key: a retried wiki job (new job URL) does not add a second row.
    key = _key(f"{when};{ctx.pipeline_id}")
    job_url = result.info.get("job_url") or ctx.job_url
    job_id = job_url.rstrip("/").rsplit("/", 1)[-1] if job_url else ""
    pipeline = link(f"#{ctx.pipeline_id}" if ctx.pipeline_id else "—", ctx.pipeline_url)
    job = link(f"#{job_id}" if job_id else "job", job_url) if job_url else "—"
    sha = ctx.commit_sha or result.git_sha or ""
    commit = link(f"`{short_sha(sha)}`", ctx.commit_url) if sha else "—"
    trend = encode(trend_data(result.metrics))     # the numbers the page's trend draws
    line = (f"| {cell(when)} <!-- ds-run:{key} -->{trend} | {pipeline} | {job} | {commit} | "
            f"{_status(result)} | {metrics_inline(result.metrics)} |")
    return Row(key, line)


def parse_rows(content: str) -> list[Row]:
    rows = []
    for line in (content or "").splitlines():
        m = _ROW_KEY.search(line)
        if line.startswith("|") and m:
            rows.append(Row(m.group(1), line.rstrip()))
    return rows


def merge_rows(existing: Iterable[Row], new: Iterable[Row], newest_first: bool = True
               ) -> list[Row]:
    """Union by key (``new`` wins), sorted newest first (runs) or by key (index)."""
    by_key = {r.key: r for r in existing}
    by_key.update({r.key: r for r in new})
    return sorted(by_key.values(), key=lambda r: r.key, reverse=newest_first)


def split_rows(rows: list[Row], max_rows: int = MAX_ROWS) -> tuple[list[Row], list[Row]]:
    """(kept, to archive). Past the bound, a tenth is moved at once so the archive is not
    rewritten on every run."""
    if len(rows) <= max_rows:
        return rows, []
    keep = max(1, max_rows - max(1, max_rows // 10))
    return rows[:keep], rows[keep:]


def render_page(notebook: str, rows: list[Row], layout: Layout, url_for: UrlFor,
                max_rows: int = MAX_ROWS) -> str:
    archive = link("the archive", url_for(layout.archive(notebook)))
    index = link("all notebooks", url_for(layout.index))
    trend = render_trend(points_of([(r.key.split(";", 1)[0], r.line) for r in rows]))
    return (f"{PAGE_MARKER}\n# Runs of `{notebook}`\n\n"
            f"Newest first; the latest {max_rows} runs at most, older ones move to {archive}. "
            f"Back to {index}.\n\n{trend}{RUN_HEADER}\n" + "\n".join(r.line for r in rows)
            + "\n")


def render_archive(notebook: str, rows: list[Row], layout: Layout, url_for: UrlFor) -> str:
    page = link("the recent runs", url_for(layout.page(notebook)))
    return (f"{PAGE_MARKER}\n# Archived runs of `{notebook}`\n\nOlder runs moved here from "
            f"{page}, newest first.\n\n{RUN_HEADER}\n" + "\n".join(r.line for r in rows) + "\n")


def index_row(result: RunResult, ctx: RunContext, layout: Layout, url_for: UrlFor) -> Row:
    nb = result.notebook
    line = (f"| {link(f'`{cell(nb)}`', url_for(layout.page(nb)))} <!-- ds-nb:{_key(nb)} --> | "
            f"{cell(_iso(result.started_at or ctx.time))} | {_status(result)} | "
            f"{metrics_inline(result.metrics)} |")
    return Row(_key(nb), line)


def render_index(rows: list[Row]) -> str:
    return (f"{INDEX_MARKER}\n# Notebook runs\n\nOne page per notebook with a table of its runs, "
            f"newest first. Written by `ds-runner wiki`.\n\n{INDEX_HEADER}\n"
            + "\n".join(r.line for r in rows) + "\n")


def wiki_url_for(base_url: str) -> UrlFor:
    """Absolute links to wiki pages, e.g. ``https://gitlab.example.com/group/proj/-/wikis/``."""
    return lambda slug: f"{base_url.rstrip('/')}/{slug}"


def relative_url_for(current_slug: str) -> UrlFor:
    """Relative ``.md`` links between local files (``ds-runner run``'s report)."""
    here = posixpath.dirname(current_slug)
    return lambda slug: posixpath.relpath(slug, here or ".") + ".md"
