"""The release description: a model card with a machine-readable metrics block.

The fenced ``json`` block after ``METRICS_MARKER`` is what the next release reads back as its
production baseline (:func:`parse_release_metrics`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.report.render import (
    NotebookReport,
    cell,
    failure_block,
    gate_table,
    link,
    metrics_table,
    short_sha,
    status_badge,
)

MARKER = "<!-- ds-pipeline:release -->"
METRICS_MARKER = "<!-- ds-pipeline:release-metrics -->"
_BLOCK = re.compile(re.escape(METRICS_MARKER) + r"\s*```json\s*\n(.*?)\n```", re.S)


@dataclass(frozen=True)
class RegisteredModel:
    """A notebook's model in the model registry: ``uri`` is ``models:/<name>/<version>``;
    ``state`` is registered, found (a re-run), would register (dry run) or "" (nothing
    registered, ``note`` says why)."""

    name: str = ""
    version: str = ""
    uri: str = ""
    web_url: str = ""
    state: str = ""
    note: str = ""

    def markdown(self) -> str:
        if not self.state:
            return f"not registered ({self.note})" if self.note else "not registered"
        shown = link(f"`{self.uri}`", self.web_url) if self.web_url else f"`{self.uri}`"
        return shown + {"found": " (already registered)",
                        "would register": " (dry run: would register)"}.get(self.state, "")


@dataclass
class ReleaseInfo:
    tag: str
    commit_sha: str = ""
    commit_url: str = ""
    pipeline_url: str = ""
    image: str = ""
    baseline_tag: str = ""        # the production release compared with ("" = none yet)
    forced: bool = False          # gates failed and --force was given
    models: dict[str, RegisteredModel] = field(default_factory=dict)   # notebook -> its model


def metrics_document(reports: Sequence[NotebookReport], info: ReleaseInfo) -> dict[str, Any]:
    return {"schema": 1, "tag": info.tag, "commit": info.commit_sha,
            "notebooks": {r.notebook: {"status": r.result.status,
                                       "metrics": dict(r.result.metrics)} for r in reports}}


def parse_release_metrics(description: str) -> dict[str, dict[str, float]] | None:
    """``{notebook: metrics}`` from a release description; None when it has no block."""
    match = _BLOCK.search(description or "")
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
        notebooks = data["notebooks"]
        return {str(nb): {str(k): float(v) for k, v in entry.get("metrics", {}).items()}
                for nb, entry in notebooks.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _reused(rep: NotebookReport) -> str:
    """Where a tag pipeline's reused result ran (runner.publish.reuse_collect marks it)."""
    info = rep.result.info
    job = link(f"job #{info['reused_job']}", info.get("reused_job_url", ""))
    pipeline = link(f"pipeline #{info.get('reused_pipeline', '?')}",
                    info.get("reused_pipeline_url", ""))
    return (f"`{cell(rep.notebook)}` reuses the results and model of {job} in "
            f"{pipeline} on `{cell(info.get('reused_ref', ''))}` (same commit and content key)")


def render_release_notes(reports: Sequence[NotebookReport], info: ReleaseInfo) -> str:
    """The model card (unmasked: the sink masks what it writes)."""
    baseline = info.baseline_tag or "production"
    lines = [MARKER, f"## Model card: {info.tag}", ""]
    if info.forced:
        lines += ["> ⚠️ **Forced release.** Validation gates failed and the release was made "
                  "with `ds-runner release --force`; see the gate tables below.", ""]
    facts = [("Commit", link(f"`{short_sha(info.commit_sha)}`", info.commit_url)
              if info.commit_sha else "—"),
             ("Container image", f"`{info.image}`" if info.image else "—"),
             ("Pipeline", link("pipeline", info.pipeline_url) if info.pipeline_url else "—"),
             ("Compared with", f"production release `{info.baseline_tag}`"
              if info.baseline_tag else "no earlier production release (no baseline yet)")]
    facts += [("Not trained again", _reused(r)) for r in reports if r.result.info.get("reused_job")]
    lines += [f"- **{k}:** {v}" for k, v in facts]
    for rep in reports:
        res = rep.result
        lines += ["", f"### {status_badge(res.status)} — `{cell(res.notebook)}`", ""]
        mlflow = res.info.get("mlflow_run_url", "")
        if mlflow:
            lines += [f"MLflow run: {link(mlflow, mlflow)}", ""]
        model = info.models.get(res.notebook)
        if model is not None:
            lines += [f"Registered model: {model.markdown()}", ""]
        failure = failure_block(res)
        if failure:
            lines += [failure, ""]
        lines += ["#### Metrics", "", metrics_table(rep, [(baseline, rep.production)]), "",
                  "#### Validation gates", "", gate_table(rep.gates)]
    doc = json.dumps(metrics_document(reports, info), indent=2, sort_keys=True)
    lines += ["", "### Metrics (machine-readable)", "", METRICS_MARKER, "```json", doc, "```", ""]
    return "\n".join(lines)
