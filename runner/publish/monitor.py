"""``ds-runner monitor``: judge the drift gates of a scheduled job's runs and, where one failed,
start (or find) the retraining pipeline the notebook's config names (``runner.publish.retrain``).

It runs in the scheduled job after ``ds-runner execute``; a failed drift gate makes it return
:attr:`ExitCode.GATE_FAILED` so the job fails and GitLab's pipeline notifications fire.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import load_yaml
from runner.errors import ExitCode
from runner.metrics import RunResult, find_results
from runner.publish.ci import CiEnv
from runner.publish.retrain import (
    Decision,
    Retrainer,
    RetrainSpec,
    measured_failures,
    reason_for,
    request_for,
)
from runner.report.gates.drift import GATE
from runner.report.render import gate_table
from runner.report.runs import LocalRun, find_config, gate_rows, load_runs


@dataclass
class Watch:
    """What monitor found and did, run by run."""

    failed: list[str] = field(default_factory=list)        # notebooks with a failed drift gate
    decisions: list[Decision] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.GATE_FAILED if self.failed else ExitCode.SUCCESS


def _where(env: CiEnv) -> str:
    return f"pipeline #{env.pipeline_id}" if env.pipeline_id else ""


def watch_run(run: LocalRun, env: CiEnv, retrainer: Callable[[], Retrainer] | None,
              echo: Callable[[str], None], watch: Watch) -> None:
    """One run: print its drift gates; on a measured failure, retrain as its config says.
    ``retrainer`` is None when there is no GitLab to talk to (a dry run outside CI)."""
    notebook = run.result.notebook
    source = str(run.config_path or "config")
    rows = [r for r in gate_rows(run, None) if r.gate == GATE]
    if not rows:
        echo(f"{notebook}: no drift gates (gates.drift in {source})")
        return
    echo(gate_table(rows, plain=True, title=f"drift gates of {notebook}"))
    if all(r.passed for r in rows):
        return
    watch.failed.append(notebook)
    spec = RetrainSpec.from_config(run.config, source)
    failures = measured_failures(rows)
    if spec is None:
        echo(f"{notebook}: a drift gate failed; {source} has no retrain: block, so no retraining")
        return
    if not failures:
        echo(f"{notebook}: drift was not measured (run {run.result.status}); no retraining")
        return
    request = request_for(spec, reason_for(notebook, failures, _where(env)), env.default_branch)
    if retrainer is None:
        echo(f"[dry-run] {request.describe()}")
        echo(f"would start a retraining pipeline on {request.ref} (no GitLab context, so "
             "the cool-down was not checked)")
        return
    decision = retrainer().retrain(spec, request)
    watch.decisions.append(decision)
    echo(decision.message)


def monitor(results_dir: Path, env: CiEnv, *, dry_run: bool = False,
            echo: Callable[[str], None] = print, repo: Path | None = None) -> Watch:
    """Every run under ``results_dir``: its drift gates, and the retraining they call for. No
    results (the scheduled pipeline ran no notebook) is nothing to judge, not an error."""
    if not (results_dir.is_dir() and find_results(results_dir)):
        echo(f"no notebook results under {results_dir}: no drift gates to judge")
        return Watch()
    runs = load_runs(results_dir, repo)
    has_gitlab = bool(env.base_url and env.project and (env.token or not dry_run))
    retrainer: Callable[[], Retrainer] | None = None
    if has_gitlab:
        def retrainer() -> Retrainer:
            return Retrainer(env.client("monitor", dry_run=dry_run, echo=echo))
    watch = Watch()
    for run in runs:
        watch_run(run, env, retrainer, echo, watch)
    return watch


def preview(results: Sequence[RunResult], repo: Path) -> list[str]:
    """What ``monitor --dry-run`` would print for these runs, with no GitLab (``ds-runner run``
    shows it): the drift gates and the retraining request; [] when no drift gate failed."""
    env = CiEnv(default_branch=os.environ.get("CI_DEFAULT_BRANCH") or "<default branch>")
    lines: list[str] = []
    watch = Watch()
    for result in results:
        path = find_config(result, repo)
        run = LocalRun(repo, result, "", load_yaml(path) if path else {}, path)
        watch_run(run, env, None, lines.append, watch)
    return lines if watch.failed else []
