"""The pipeline's work on this machine, with no GitLab: the library of ``ds-runner run``.

detect (the notebooks given, ``--all``, or what the last commit and the working tree changed)
-> execute each in turn -> write the merge-request comment and wiki pages it would publish to
``<output dir>/report/`` -> a summary table. The exit status is the worst notebook's.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.config import INFERENCE_CONFIG, default_config_for
from runner.errors import ExitCode, UsageError
from runner.execute.notebook import RunOptions
from runner.metrics import RunResult
from runner.paths import NOTEBOOK_GLOB

REPORT_DIR = "report"  # under the output folder
_SHOWN_METRICS = 4


@dataclass(frozen=True)
class Selection:
    """Which notebooks ``run`` executes: these, or all matching ``glob``, or (neither given)
    what the last commit and the working tree changed."""

    notebooks: Sequence[str] = ()
    run_all: bool = False
    glob: str = NOTEBOOK_GLOB


@dataclass
class LocalOutcome:
    """What a local run did, for the command to print: the results in order, with their exit
    codes, the report files written, and why nothing ran (``skipped``) when nothing did."""

    results: list[RunResult] = field(default_factory=list)
    codes: list[ExitCode] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    skipped: str = ""
    retrain: list[str] = field(default_factory=list)   # what `ds-runner monitor` would do

    @property
    def exit_code(self) -> ExitCode:
        return max(self.codes, default=ExitCode.SUCCESS)

    def summary(self) -> str:
        """A Markdown table: notebook, status, exit code, time and the first metrics."""
        rows = ["| notebook | status | exit | time | metrics |", "|---|---|---|---|---|"]
        from runner.monitor.names import is_column_metric

        for result, code in zip(self.results, self.codes, strict=True):
            # per-feature drift measures are in the report's Drift section, not counted here
            listed = [(k, v) for k, v in result.metrics.items() if not is_column_metric(k)]
            metrics = ", ".join(f"{k}={v:.4g}" for k, v in listed[:_SHOWN_METRICS])
            if len(listed) > _SHOWN_METRICS:
                metrics += f", +{len(listed) - _SHOWN_METRICS} more"
            rows.append(f"| {result.notebook} | {result.status} | {int(code)} | "
                        f"{result.duration_s:.1f} s | {metrics or '-'} |")
        return "\n".join(rows)


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def _working_tree_changes(repo: Path, glob: str) -> list[str]:
    """Notebooks modified, added or untracked in the working tree (not yet committed)."""
    out = _git(repo, "status", "--porcelain", "-z", "--untracked-files=all", "--",
               f":(glob){glob}")
    paths = []
    entries = iter(out.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] == "R":  # a rename is followed by its source path
            next(entries, None)
        if "D" not in status:
            paths.append(path)
    return sorted(paths)


def select_notebooks(repo: Path, selection: Selection) -> tuple[list[str], str]:
    """What ``run`` executes, in order: explicit paths, or all, or the last commit's changes;
    and, when that is nothing because of a directive, why."""
    if selection.notebooks:
        return list(dict.fromkeys(selection.notebooks)), ""
    glob = selection.glob
    if selection.run_all:
        found = [p.relative_to(repo).as_posix() for p in repo.glob(glob) if p.is_file()]
        # Training before inference: inference notebooks score the model training writes.
        found = sorted((p for p in found if ".ipynb_checkpoints" not in p),
                       key=lambda p: (default_config_for(p) == INFERENCE_CONFIG, p))
        if not found:
            raise UsageError(f"no notebooks match {glob!r} in {repo}")
        return found, ""
    from runner.detect.changes import DetectContext, detect

    head = _git(repo, "rev-parse", "HEAD").strip()
    if not head:
        raise UsageError(f"{repo} is not a git repository with commits: name notebooks or --all")
    parent = _git(repo, "rev-parse", "--verify", "-q", "HEAD~1").strip()
    ctx = DetectContext(
        pipeline_source="push",
        commit_message=_git(repo, "log", "-1", "--format=%B"),
        commit_sha=head,
        before_sha=parent or "0" * 40,
        notebooks_glob=glob,
    )
    detection = detect(repo, ctx)
    if detection.skip:
        return [], detection.reason
    return list(dict.fromkeys([*detection.notebooks, *_working_tree_changes(repo, glob)])), ""


def _parameters_per_notebook(notebooks: Sequence[str], repo: Path,
                             parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Give each notebook the ``-p`` values its parameters cell declares.

    ``run`` passes one set of parameters to notebooks of different kinds (``-p n_trials 3`` means
    the training notebook); a name that no selected notebook declares is still an error.
    """
    from runner.execute.notebook import load_declared

    declared = {nb: load_declared(repo / nb, nb) for nb in notebooks}
    unknown = [name for name in parameters
               if not any(name in (names or ()) for names in declared.values())]
    if unknown:
        raise UsageError(f"parameter(s) {', '.join(unknown)} not declared by any of: "
                         f"{', '.join(notebooks)}")
    return {nb: {k: v for k, v in parameters.items() if k in (names or ())}
            for nb, names in declared.items()}


def run_local(selection: Selection, options: RunOptions,
              on_progress: Callable[[str], None] = lambda line: None) -> LocalOutcome:
    """Select, check every notebook, run them one after another (``on_progress`` hears a line
    as each starts and ends) and write the local report; UsageError before any kernel starts
    when a notebook or parameter is wrong."""
    from runner.execute.notebook import exit_code_for, prepare_run, run_plan
    from runner.publish.files import write_local_report
    from runner.publish.monitor import preview

    repo = options.repo
    selected, skipped = select_notebooks(repo, selection)
    if not selected:
        return LocalOutcome(skipped=skipped)
    output_dir = options.output_dir if options.output_dir.is_absolute() \
        else repo / options.output_dir
    per_notebook = _parameters_per_notebook(selected, repo, options.parameters)
    # Check every notebook before the first kernel starts, as the pipeline's detect job would.
    plans = [prepare_run(nb, dataclasses.replace(options, output_dir=output_dir,
                                                 parameters=per_notebook[nb]))
             for nb in selected]
    outcome = LocalOutcome()
    for number, plan in enumerate(plans, 1):
        on_progress(f"[{number}/{len(plans)}] {plan.notebook} ...")
        result = run_plan(plan)
        detail = f" ({result.error.ename}: {result.error.evalue})" if result.error else ""
        on_progress(f"[{number}/{len(plans)}] {plan.notebook}: {result.status} in "
                    f"{result.duration_s:.1f} s{detail}")
        outcome.results.append(result)
        outcome.codes.append(exit_code_for(result))
    _shadow(outcome.results, output_dir, repo, on_progress)
    outcome.reports = write_local_report(outcome.results, output_dir / REPORT_DIR, repo)
    outcome.retrain = preview(outcome.results, repo)
    return outcome


def _shadow(results: Sequence[RunResult], output_dir: Path, repo: Path,
            on_progress: Callable[[str], None]) -> None:
    """What the pipeline's shadow-compare job does, on this machine: when a notebook that ran
    asks for ``gates.shadow``, compare its model with the newest ``ds-runner release --local``
    model (``ds-runner shadow --local``), so the local report shows its rows, not "not run"."""
    from runner.config import load_yaml
    from runner.paths import notebook_stem
    from runner.report.gates.shadow import read_shadow_checks, shadow_limits
    from runner.report.runs import find_config

    def asks(result: RunResult) -> bool:
        path = find_config(result, repo)
        return path is not None and shadow_limits(load_yaml(path), str(path)) is not None

    if not any(r.ok and asks(r) for r in results):
        return
    from runner.models import DEFAULT_TAG_REGEX
    from runner.publish.scheduled import DEFAULT_SCHEDULED_JOB
    from runner.publish.shadow import ShadowOptions, run_shadow

    options = ShadowOptions((DEFAULT_SCHEDULED_JOB,), DEFAULT_TAG_REGEX,
                            environ=dict(os.environ))
    done = run_shadow(None, output_dir, options, repo)
    for line in done.lines:
        on_progress(f"shadow: {line}")
    if done.error is not None:
        on_progress(f"shadow: not compared: {done.error}")
    for result in results:
        result.checks.update(read_shadow_checks(output_dir / notebook_stem(result.notebook)))
