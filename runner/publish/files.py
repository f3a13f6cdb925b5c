"""The local report of ``ds-runner run``: the same MR comment and wiki pages, written to files
(the wiki pages through the same run-log writer as the GitLab wiki, into a folder store).

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
from runner.masking import masker_for
from runner.metrics import RunResult, find_results
from runner.pages import FolderStore, RunLog
from runner.paths import OUTPUT_DIR
from runner.render import RunContext
from runner.runs import LocalRun, find_config, report_for
from runner.wiki import Layout

COMMENT_FILE = "comment.md"
WIKI_DIR = "wiki"


def _rel(target: Path, start: Path) -> str:
    return PurePosixPath(Path(os.path.relpath(target.resolve(), start.resolve()))).as_posix()


def _folders(results: Sequence[RunResult], report_dir: Path, repo: Path) -> dict[str, Path]:
    """Output folder of each result, found by its metrics.json next to the report."""
    found: dict[str, Path] = {}
    for root in (report_dir.parent, repo / OUTPUT_DIR):
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


def write_local_report(results: Sequence[RunResult], report_dir: Path, repo: Path) -> list[Path]:
    """Render ``comment.md``, ``wiki/<slug>.md`` and ``wiki/index.md`` into ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    masker = masker_for()    # the one masking of everything this sink writes
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
    written = [_write(comment_file, masker.mask(render_comment(reports, ctx, earlier)))]
    store = FolderStore(report_dir / WIKI_DIR)
    pages = RunLog(store, masker, Layout(prefix="")).record([r.result for r in reports], ctx)
    return written + [store.path(page.slug) for page in pages]
