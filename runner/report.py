"""The local report of ``ds-runner run``: the same MR comment and wiki pages, written to files.

Without GitLab there are no pipeline/job links; figures and artifacts are linked by relative
paths, and the baseline is the previous local run (read back from the previous ``comment.md``),
or "no baseline yet".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from runner.comments import latest_metrics, parse_history, render_comment
from runner.config import load_yaml
from runner.masking import Masker
from runner.metrics import RunResult, find_results
from runner.publish.inputs import LocalRun, find_config, report_for
from runner.render import NotebookReport, RunContext
from runner.wiki import (
    MAX_ROWS,
    Layout,
    Row,
    index_row,
    merge_rows,
    parse_rows,
    relative_url_for,
    render_archive,
    render_index,
    render_page,
    run_row,
    split_rows,
)

COMMENT_FILE = "comment.md"
WIKI_DIR = "wiki"


def _rel(target: Path, start: Path) -> str:
    return PurePosixPath(Path(os.path.relpath(target.resolve(), start.resolve()))).as_posix()


def _folders(results: Sequence[RunResult], report_dir: Path, repo: Path) -> dict[str, Path]:
    """Output folder of each result, found by its metrics.json next to the report."""
    found: dict[str, Path] = {}
    for root in (report_dir.parent, repo / ".ds-runner"):
        if not root.is_dir():
            continue
        for folder, on_disk in find_results(root):
            for r in results:
                if (on_disk.notebook, on_disk.started_at) == (r.notebook, r.started_at):
                    found.setdefault(r.notebook, folder)
    return found


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _write_wiki(reports: Sequence[NotebookReport], ctx: RunContext, wiki_dir: Path,
                masker: Masker) -> list[Path]:
    layout = Layout(prefix="")
    written = []
    for rep in reports:
        nb = rep.notebook
        slug, archive = layout.page(nb), layout.archive(nb)
        page_file = wiki_dir / f"{slug}.md"
        rows = merge_rows(parse_rows(_read(page_file)), [run_row(rep.result, ctx)])
        keep, old = split_rows(rows, MAX_ROWS)
        if old:
            archive_file = wiki_dir / f"{archive}.md"
            merged = merge_rows(parse_rows(_read(archive_file)), old)
            written.append(_write(archive_file, render_archive(
                nb, merged, layout, relative_url_for(archive), masker)))
        written.append(_write(page_file, render_page(
            nb, keep, layout, relative_url_for(slug), MAX_ROWS, masker)))
    index_file = wiki_dir / f"{layout.index}.md"
    new: list[Row] = [index_row(r.result, ctx, layout, relative_url_for(layout.index))
                      for r in reports]
    rows = merge_rows(parse_rows(_read(index_file)), new, newest_first=False)
    written.append(_write(index_file, render_index(rows, masker)))
    return written


def write_local_report(results: Sequence[RunResult], report_dir: Path, repo: Path) -> list[Path]:
    """Render ``comment.md``, ``wiki/<slug>.md`` and ``wiki/index.md`` into ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    masker = Masker.from_env()
    comment_file = report_dir / COMMENT_FILE
    earlier = parse_history(_read(comment_file))
    folders = _folders(results, report_dir, repo)
    sha = next((r.git_sha for r in results if r.git_sha), "") or ""
    ctx = RunContext(commit_sha=sha, time=datetime.now(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), target_label="previous local run",
        target_note="the last `ds-runner run` in this output directory")
    reports = []
    for result in results:
        path = find_config(result, repo)
        folder = folders.get(result.notebook)
        run = LocalRun(folder or report_dir, result, "", load_yaml(path) if path else {}, path)
        rep = report_for(run, latest_metrics(earlier, result.notebook), None)
        if folder is not None:
            rep.figure_urls = {n: _rel(folder / p, report_dir) for n, p in result.figures.items()
                               if (folder / p).is_file()}
            rep.artifact_urls = {n: _rel(folder / p, report_dir)
                                 for n, p in result.artifacts.items()}
        reports.append(rep)
    written = [_write(comment_file, render_comment(reports, ctx, earlier, masker))]
    return written + _write_wiki(reports, ctx, report_dir / WIKI_DIR, masker)
