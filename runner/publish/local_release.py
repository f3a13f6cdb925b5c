"""``ds-runner release --local v1.2.3``: the release path of a production tag on this machine.

After ``ds-runner run``, the results under ``.ds-runner/`` are gated against the previous local
release (read back from its notes), the models are registered in the local MLflow registry
(``.ds-runner/mlruns``, or ``MLFLOW_TRACKING_URI``) and the notes, the same model card as on
GitLab, are written to ``.ds-runner/report/release-<tag>.md``. Tags that are not production
tags (``dev-1.2.3``) release nothing, as in CI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import GateFailedError
from runner.masking import masker_for
from runner.models import DEFAULT_TAG_REGEX
from runner.paths import OUTPUT_DIR
from runner.publish import Outcome
from runner.publish.baseline import production_tags
from runner.publish.registry import Target, local_target, register_models, say_models
from runner.report.release_notes import ReleaseInfo, parse_release_metrics, render_release_notes
from runner.report.render import NotebookReport, gate_table
from runner.report.runs import Compared, Links, LocalRun

PREFIX = "release-"


def judge_gates(reports: Sequence[NotebookReport], tag: str, base_tag: str, force: bool,
                out: Outcome) -> bool:
    """Print every gate table; raise GateFailedError on a failure unless ``force``. True when
    gates failed and ``force`` releases anyway."""
    failed = 0
    for rep in reports:
        out.say(gate_table(rep.gates, plain=True, title=f"validation gates of {rep.notebook} "
                           f"(baseline: {base_tag or 'none yet'}):"))
        failed += sum(not g.passed for g in rep.gates)
    if failed and not force:
        raise GateFailedError(f"{failed} validation gate(s) failed for {tag}: no release "
                              "created (see the gate table above; --force releases anyway)")
    if failed:
        out.say(f"WARNING: {failed} validation gate(s) failed; releasing {tag} anyway "
                "(--force)")
    return bool(failed)


def previous_release(report_dir: Path, tag: str, tag_regex: str
                     ) -> tuple[str, dict[str, dict[str, float]] | None]:
    """(tag, metrics) of the newest local release notes other than ``tag``; ("", None)."""
    pattern = production_tags(tag_regex)
    found = sorted(((p.stat().st_mtime, p) for p in report_dir.glob(f"{PREFIX}*.md")),
                   reverse=True) if report_dir.is_dir() else []
    for _, path in found:
        name = path.stem[len(PREFIX):]
        if name != tag and pattern.search(name):
            return name, parse_release_metrics(path.read_text(encoding="utf-8"))
    return "", None


@dataclass
class LocalReleaseSink:
    """Release ``tag`` from this machine's results: gates, the local registry, the notes file."""

    repo: Path
    tag: str
    tag_regex: str = DEFAULT_TAG_REGEX
    force: bool = False
    dry_run: bool = False
    target: Target | None = None           # None: the local registry (local_target)
    runs: list[LocalRun] = field(init=False)
    base_tag: str = field(init=False)
    production: dict[str, dict[str, float]] | None = field(init=False)

    @property
    def report_dir(self) -> Path:
        return self.repo / OUTPUT_DIR / "report"

    def check(self) -> str:
        if production_tags(self.tag_regex).search(self.tag) is None:
            return (f"tag {self.tag} does not match the production tag pattern "
                    f"{self.tag_regex}: no release (not a production tag)")
        return ""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        self.runs = list(runs)
        self.base_tag, self.production = previous_release(self.report_dir, self.tag,
                                                          self.tag_regex)
        return True

    def compare(self, run: LocalRun) -> Compared:
        production = self.production.get(run.result.notebook) if self.production else None
        return Compared(production=production)

    def links(self, run: LocalRun) -> Links:
        return Links()

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        forced = judge_gates(reports, self.tag, self.base_tag, self.force, out)
        target = self.target or local_target(os.environ, self.repo)
        sha = next((r.result.git_sha for r in self.runs if r.result.git_sha), "") or ""
        models = register_models(self.runs, target, self.tag, sha, dry_run=self.dry_run)
        say_models(models, out.say)
        info = ReleaseInfo(tag=self.tag, commit_sha=sha, baseline_tag=self.base_tag,
                           forced=forced, models=models)
        notes = masker_for().mask(render_release_notes(reports, info))
        path = self.report_dir / f"{PREFIX}{self.tag}.md"
        if self.dry_run:
            out.say(f"would write {path}")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(notes, encoding="utf-8")
        out.files.append(path)
        out.say(f"released {self.tag} locally: {path}")
