"""What the publishing commands compare: local results, their configs, and baselines on GitLab."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner.config import default_config_for, load_yaml, metric_directions
from runner.errors import UsageError
from runner.gates import GateResult, evaluate, parse_gates
from runner.gitlab_client import GitLabClient
from runner.metrics import METRICS_FILE, RunResult, find_results
from runner.pipeline import job_name as child_job_name
from runner.publish.baseline import Baseline, find_baseline
from runner.release import parse_release_metrics
from runner.render import NotebookReport

logger = logging.getLogger(__name__)
DEFAULT_TAG_REGEX = r"^v\d+\.\d+\.\d+$"
DEFAULT_BASELINE_JOB = "execute-notebook"


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
        path = find_config(result, repo)
        config = load_yaml(path) if path else {}
        if path:
            parse_gates(config, str(path))   # a broken gates: block fails early, naming the key
        runs.append(LocalRun(folder, result, _posix_rel(folder, repo), config, path))
    return runs


def gate_rows(run: LocalRun, baseline: Mapping[str, float] | None) -> list[GateResult]:
    gates = parse_gates(run.config, str(run.config_path or "config"))
    return evaluate(gates, run.result.metrics, run.directions, baseline, run.result.status)


def report_for(run: LocalRun, target: Mapping[str, float] | None,
               production: Mapping[str, float] | None) -> NotebookReport:
    return NotebookReport(run.result, target=target, production=production,
                          directions=run.directions, gates=gate_rows(run, production))


def production_baseline(client: GitLabClient, tag_regex: str, exclude_tag: str = ""
                        ) -> tuple[str, dict[str, dict[str, float]] | None]:
    """(tag, {notebook: metrics}) of the newest release whose tag matches; ("", None) if none."""
    try:
        pattern = re.compile(tag_regex)
    except re.error as e:
        raise UsageError(f"--production-tag-regex {tag_regex!r} is not a valid regex: {e}") from e
    for rel in client.releases():
        if rel.tag_name != exclude_tag and pattern.search(rel.tag_name):
            metrics = parse_release_metrics(rel.description)
            if metrics is None:
                logger.warning("release %s has no ds-pipeline metrics block; no production "
                               "baseline", rel.tag_name)
            return rel.tag_name, metrics
    return "", None


def baseline_job_names(run: LocalRun, job: str) -> list[str]:
    """The names a notebook's results can be found under on the target branch: ``job``
    (``--baseline-job``, sequential mode), the job the run recorded (``info.job_name``) and the
    parallel-mode child job ``execute:<path without .ipynb>``."""
    recorded = str(run.result.info.get("job_name", "") or "")
    names = (job, recorded, child_job_name(run.result.notebook))
    return list(dict.fromkeys(n for n in names if n))


def target_baseline(client: GitLabClient, run: LocalRun, ref: str, job: str) -> Baseline:
    """Metrics of the newest successful job on ``ref`` that holds this notebook's
    ``metrics.json`` (runner.publish.baseline), with the commit and pipeline it came from."""
    if not ref:
        return Baseline(None, None)
    path = f"{run.artifact_dir}/{METRICS_FILE}"
    return find_baseline(client, ref, path, baseline_job_names(run, job))
