"""The runs every report starts from: each ``metrics.json`` under the results folder with its
notebook's config; :func:`build_reports` makes them into reports
(:class:`~runner.report.render.NotebookReport`) with their baselines and gate rows, once per sink.

No GitLab here: ``ds-runner run`` builds its local report from this module too; the GitLab
baselines are in ``runner.publish.baseline``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner.config import default_config_for, load_yaml, metric_directions
from runner.errors import UsageError
from runner.metrics import METRICS_FILE, RunResult, find_results
from runner.report.gates import GateResult, evaluate, parse_gates
from runner.report.gates.shadow import read_shadow_checks
from runner.report.render import BaselineOrigin, NotebookReport


@dataclass
class LocalRun:
    """One notebook's output folder, its ``metrics.json`` and its config."""

    folder: Path
    result: RunResult
    artifact_dir: str                       # the folder as a job-artifact path (posix)
    config: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None

    @property
    def directions(self) -> dict[str, str]:
        return metric_directions(self.config)


def _posix_rel(path: Path, root: Path) -> str:
    return PurePosixPath(Path(os.path.relpath(path.resolve(), root.resolve()))).as_posix()


def find_config(result: RunResult, repo: Path) -> Path | None:
    """``parameters.config_path`` if the run had one, else the default config of the notebook
    (looked up at the repository root, then beside the notebook)."""
    explicit = result.parameters.get("config_path")
    names = [str(explicit)] if isinstance(explicit, str) and explicit else []
    names.append(default_config_for(result.notebook))
    for name in names:
        for base in (repo, repo / Path(result.notebook).parent):
            candidate = Path(name) if Path(name).is_absolute() else base / name
            if candidate.is_file():
                return candidate
    return None


def load_runs(results_dir: Path, repo: Path | None = None) -> list[LocalRun]:
    """Every ``metrics.json`` under ``results_dir`` with its config; UsageError when none."""
    repo = repo or Path.cwd()
    found = find_results(results_dir) if results_dir.is_dir() else []
    if not found:
        raise UsageError(f"no {METRICS_FILE} under {results_dir}: run `ds-runner execute` "
                         "first or pass --results-dir")
    runs = []
    for folder, result in found:
        result.checks.update(read_shadow_checks(folder))   # ds-runner shadow's rows, if any
        path = find_config(result, repo)
        config = load_yaml(path) if path else {}
        if path:
            parse_gates(config, str(path))   # a broken gates: block fails early, naming the key
        runs.append(LocalRun(folder, result, _posix_rel(folder, repo), config, path))
    return runs


def gate_rows(run: LocalRun, baseline: Mapping[str, float] | None) -> list[GateResult]:
    gates = parse_gates(run.config, str(run.config_path or "config"))
    return evaluate(gates, run.result.metrics, run.directions, baseline, run.result.status,
                    checks=run.result.checks, slices=run.result.slices)


def report_for(run: LocalRun, target: Mapping[str, float] | None,
               production: Mapping[str, float] | None) -> NotebookReport:
    return NotebookReport(run.result, target=target, production=production,
                          directions=run.directions, gates=gate_rows(run, production))


@dataclass(frozen=True)
class Compared:
    """What one run is compared with (``None``: no baseline yet): the target branch's metrics
    and where they came from, and the production release's metrics (the gates' baseline)."""

    target: Mapping[str, float] | None = None
    origin: BaselineOrigin | None = None
    production: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Links:
    """Where a report links a run's figures and artifacts: name -> URL or relative path."""

    figures: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def build_reports(runs: Sequence[LocalRun], compare: Callable[[LocalRun], Compared],
                  links: Callable[[LocalRun], Links]) -> list[NotebookReport]:
    """The reports, built once for a sink: each run with what ``compare`` gives it, its gate
    rows (against the production baseline) and the links ``links`` gives it, run by run."""
    reports = []
    for run in runs:
        seen = compare(run)
        rep = report_for(run, seen.target, seen.production)
        rep.target_origin = seen.origin
        where = links(run)
        rep.figure_urls, rep.artifact_urls = dict(where.figures), dict(where.artifacts)
        reports.append(rep)
    return reports
