"""``ds-runner shadow``: before a release, score what production scored last with the candidate
and the production model, and write what changed into the candidate run's ``shadow.json``.

For each run whose config has ``gates.shadow``: the candidate is the run's model file
(``runner.publish.registry.release_files``), production is the newest production release's
model (``runner.publish.production_model``), the rows are the input the newest successful
scheduled scoring job kept (``runner.publish.scheduled``); ``runner.monitor.shadow`` compares
them and ``gates.shadow`` (``runner.report.gates.shadow``) judges the check rows written here.
Nothing is written to GitLab.
"""

from __future__ import annotations

import io
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from runner.errors import ConfigError
from runner.gitlab_client import GitLabClient
from runner.publish import Outcome
from runner.publish.baseline import newest_production_release
from runner.publish.ci import CiEnv
from runner.publish.production_model import (
    ProductionModel,
    local_production_model,
    production_model,
)
from runner.publish.registry import model_name, release_files
from runner.publish.scheduled import ScheduledInput, latest_scheduled_input, local_scored_input
from runner.report.gates.base import number
from runner.report.gates.shadow import (
    SHADOW_FILE,
    SKIPPED,
    ShadowLimits,
    check_row,
    shadow_limits,
)
from runner.report.runs import LocalRun, load_runs

logger = logging.getLogger(__name__)
SCHEMA = 1


@dataclass(frozen=True)
class ShadowOptions:
    """What the command line sets."""

    scheduled_jobs: tuple[str, ...]
    tag_regex: str
    scoring_notebook: str = ""           # when the config names none (SCORING_NOTEBOOK)
    environ: Mapping[str, str] = field(default_factory=dict)


def scoring_notebook_of(limits: ShadowLimits, default: str, source: str) -> str:
    notebook = limits.scoring_notebook or default
    if not notebook:
        raise ConfigError(f"{source}: missing required key '{limits.key}.scoring_notebook' "
                          "(the scheduled notebook whose inputs to score; or set "
                          "SCORING_NOTEBOOK)")
    return notebook


def skipped(detail: str, passed: bool = True) -> dict[str, dict[str, Any]]:
    return {SKIPPED: check_row(passed, None, None, detail)}


def _frame(found: ScheduledInput) -> Any:
    import pandas as pd

    from runner.monitor.datafile import PARQUET

    if PurePosixPath(found.path).suffix.lower() in PARQUET:
        return pd.read_parquet(io.BytesIO(found.data))
    return pd.read_csv(io.BytesIO(found.data))


def judged(limits: ShadowLimits, result: Mapping[str, float], production: ProductionModel,
           found: ScheduledInput) -> dict[str, dict[str, Any]]:
    """The three check rows of a comparison (``runner.monitor.shadow.Comparison.to_dict``)."""
    rows, changed = int(result["rows"]), int(result["labels_changed"])
    return {
        "shadow/agreement": limits.judge(
            "agreement", result["agreement"],
            f"{changed} of {rows} labels change (threshold {number(result['threshold'])}) "
            f"against production {production.tag}, on the rows of {found.origin}"),
        "shadow/score_psi": limits.judge(
            "score_psi", result["score_psi"],
            f"mean score change {number(result['mean_abs_score_change'])}; positive rate "
            f"{number(result['positive_rate_production'])} -> "
            f"{number(result['positive_rate_candidate'])}"),
        "shadow/latency_ratio": limits.judge(
            "latency_ratio", result["latency_ratio"],
            f"{result['latency_ms_candidate'] * 1000:.3g} µs per row vs "
            f"{result['latency_ms_production'] * 1000:.3g} µs in production"),
    }


def compare_run(run: LocalRun, production: ProductionModel, found: ScheduledInput | None,
                limits: ShadowLimits, notebook: str, no_rows: str = "") -> dict[str, Any]:
    """``shadow.json`` of one run: where things came from, the comparison and the rows."""
    doc: dict[str, Any] = {"schema": SCHEMA, "scoring_notebook": notebook,
                           "production": {"tag": production.tag, "source": production.source},
                           "comparison": None}
    if production.path is None:
        doc["checks"] = skipped(f"no production model to compare with: {production.note}")
        return doc
    if found is None:
        doc["checks"] = skipped(f"{no_rows}: nothing to compare on")
        return doc
    files = release_files(run)
    if files is None:
        doc["checks"] = skipped(f"no candidate model: {run.result.notebook} kept no model "
                                "file in its output folder", passed=False)
        return doc
    doc["candidate"] = files[0].name
    from runner.monitor.shadow import compare, load_model, missing_features  # numpy, pandas

    doc["scheduled"] = {"origin": found.origin, "job_id": found.job_id,
                        "job_url": found.job_url, "ref": found.ref, "sha": found.sha,
                        "path": found.path}
    frame = _frame(found)
    candidate, prod = load_model(files[0]), load_model(production.path)
    for who, model in (("candidate", candidate), (f"production {production.tag}", prod)):
        lacking = missing_features(model, frame)
        if lacking:
            doc["checks"] = skipped(f"the {who} model needs {len(lacking)} feature(s) the "
                                    f"rows of {found.origin} lack, e.g. {lacking[0]!r}",
                                    passed=False)
            return doc
    result = compare(candidate, prod, frame, limits.threshold).to_dict()
    doc["comparison"] = result
    doc["checks"] = judged(limits, result, production, found)
    return doc


class Sources(Protocol):
    """Where the production model and the rows come from: GitLab, or this machine."""

    def production(self, run: LocalRun, dest: Path) -> ProductionModel: ...

    def rows(self, notebook: str) -> ScheduledInput | None: ...

    def no_rows(self, notebook: str) -> str: ...


@dataclass
class GitLabSources:
    """The newest production release's model; the newest scheduled scoring job's input."""

    env: CiEnv
    options: ShadowOptions
    client: GitLabClient = field(init=False)
    tag: str = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.env.client("shadow", dry_run=False, echo=logger.info,
                                      job_token_ok=True)
        newest = newest_production_release(self.client, self.options.tag_regex,
                                           exclude_tag=self.env.commit_tag)
        self.tag = newest.tag_name if newest else ""

    def production(self, run: LocalRun, dest: Path) -> ProductionModel:
        env = self.env
        return production_model(self.client, self.tag, run.result.notebook, model_name(run),
                                dest, api_url=env.api_url or f"{env.base_url}/api/v4",
                                project=env.project, token=env.token,
                                environ=self.options.environ)

    def rows(self, notebook: str) -> ScheduledInput | None:
        return latest_scheduled_input(self.client, notebook, list(self.options.scheduled_jobs),
                                      default_branch=self.env.default_branch)

    def no_rows(self, notebook: str) -> str:
        return f"no scheduled scoring run of {notebook} kept its input yet (info.scored_input)"


@dataclass(frozen=True)
class LocalSources:
    """``--local``: the newest local release's registered model (``ds-runner release
    --local``) and the input the last local run of the scoring notebook kept."""

    repo: Path
    results_dir: Path
    options: ShadowOptions

    def production(self, run: LocalRun, dest: Path) -> ProductionModel:
        return local_production_model(self.repo, model_name(run), self.options.tag_regex,
                                      self.options.environ)

    def rows(self, notebook: str) -> ScheduledInput | None:
        return local_scored_input(self.results_dir, notebook)

    def no_rows(self, notebook: str) -> str:
        return (f"no run of {notebook} on this machine kept its input (info.scored_input; "
                f"ds-runner run {notebook})")


def run_shadow(env: CiEnv | None, results_dir: Path, options: ShadowOptions,
               repo: Path | None = None) -> Outcome:
    """Compare every run that asks for ``gates.shadow``; write each one's ``shadow.json``.
    Without ``env``: on this machine (``--local``), from ``repo``."""
    out = Outcome()
    with out.stopping():
        runs = [(run, limits) for run in load_runs(results_dir, repo)
                if (limits := shadow_limits(run.config, str(run.config_path))) is not None]
        if not runs:
            out.say("no notebook's config has gates.shadow: nothing to compare")
            return out
        sources: Sources = (GitLabSources(env, options) if env is not None else
                            LocalSources(repo or Path.cwd(), results_dir, options))
        inputs: dict[str, ScheduledInput | None] = {}
        with tempfile.TemporaryDirectory(prefix="ds-runner-shadow-") as tmp:
            for i, (run, limits) in enumerate(runs):
                source = str(run.config_path or "config")
                notebook = scoring_notebook_of(limits, options.scoring_notebook, source)
                production = sources.production(run, Path(tmp) / str(i))
                if production.path is not None and notebook not in inputs:
                    inputs[notebook] = sources.rows(notebook)
                doc = compare_run(run, production, inputs.get(notebook), limits, notebook,
                                  sources.no_rows(notebook))
                path = run.folder / SHADOW_FILE
                path.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")   # rows in order
                out.files.append(path)
                say_rows(out, run.result.notebook, doc["checks"])
    return out


def say_rows(out: Outcome, notebook: str, checks: Mapping[str, Mapping[str, Any]]) -> None:
    for name, row in checks.items():
        out.say(f"{notebook}: {'PASS' if row['passed'] else 'FAIL'} {name}: {row['detail']}")
