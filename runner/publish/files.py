"""The local report of ``ds-runner run``: the same MR comment and wiki pages, written to files
(the wiki pages through the same run-log writer as the GitLab wiki, into a folder store).

Without GitLab there are no pipeline/job links; figures and artifacts are linked by relative
paths, and the baseline is the previous local run (read back from the previous ``comment.md``),
or "no baseline yet".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from runner.config import load_yaml
from runner.masking import masker_for
from runner.metrics import RunResult, find_results
from runner.paths import OUTPUT_DIR
from runner.publish import Outcome, publish
from runner.report.comment_body import latest_metrics, parse_history, render_comment
from runner.report.pages import FolderStore, RunLog
from runner.report.render import NotebookReport, RunContext
from runner.report.runs import Compared, Links, LocalRun, find_config
from runner.report.wiki_pages import Layout

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


@dataclass
class FilesSink:
    """``comment.md`` and the wiki pages as files in ``report_dir``, each run compared with the
    previous local run; figures and artifacts linked from the runs' output ``folders``."""

    report_dir: Path
    folders: dict[str, Path] = field(default_factory=dict)     # notebook -> output folder
    earlier: list[dict[str, Any]] = field(init=False)           # the previous comment's history
    ctx: RunContext = field(init=False)

    def check(self) -> str:
        return ""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        self.earlier = parse_history(_read(self.report_dir / COMMENT_FILE))
        sha = next((r.result.git_sha for r in runs if r.result.git_sha), "") or ""
        self.ctx = RunContext(commit_sha=sha, time=datetime.now(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"), target_label="previous local run",
            target_note="the last `ds-runner run` in this output directory")
        return True

    def compare(self, run: LocalRun) -> Compared:
        return Compared(target=latest_metrics(self.earlier, run.result.notebook))

    def links(self, run: LocalRun) -> Links:
        folder, result = self.folders.get(run.result.notebook), run.result
        if folder is None:
            return Links()
        return Links({n: _rel(folder / p, self.report_dir) for n, p in result.figures.items()
                      if (folder / p).is_file()},
                     {n: _rel(folder / p, self.report_dir) for n, p in result.artifacts.items()})

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        masker = masker_for()    # the one masking of everything this sink writes
        comment = render_comment(reports, self.ctx, self.earlier)
        out.files.append(_write(self.report_dir / COMMENT_FILE, masker.mask(comment)))
        store = FolderStore(self.report_dir / WIKI_DIR)
        pages = RunLog(store, masker, Layout(prefix="")).record([r.result for r in reports],
                                                                self.ctx)
        out.files += [store.path(page.slug) for page in pages]


def write_local_report(results: Sequence[RunResult], report_dir: Path, repo: Path) -> list[Path]:
    """Render ``comment.md``, ``wiki/<slug>.md`` and ``wiki/index.md`` into ``report_dir``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    sink = FilesSink(report_dir, _folders(results, report_dir, repo))
    runs = []
    for result in results:
        path = find_config(result, repo)
        runs.append(LocalRun(sink.folders.get(result.notebook) or report_dir, result, "",
                             load_yaml(path) if path else {}, path))
    out = publish(sink, runs)
    if out.error is not None:
        raise out.error
    return out.files
