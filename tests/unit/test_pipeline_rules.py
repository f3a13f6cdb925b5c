"""GitLab's job-inclusion rules (tests/gitlab_emulator/pipeline_rules.py) and our child pipelines.

gitlab-ci-local runs a child pipeline's jobs whatever its parent was; GitLab does not: a child of
a merge-request pipeline is neither a branch nor a tag pipeline, so jobs without ``rules`` (and
a pipeline without ``workflow:rules``) get none (gitlab-org/gitlab#322012).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.detect.changes import Detection
from runner.detect.childpipeline import ChildOptions, child_pipeline
from scripts.ci_templates import load as load_template
from tests.gitlab_emulator.pipeline_rules import (
    FILTERED,
    NO_JOBS,
    NotModelled,
    Pipeline,
    create,
    evaluate_if,
    merge_includes,
)

ROOT = Path(__file__).resolve().parents[2]
PARENT_SOURCES = ["merge_request_event", "push", "tag", "schedule", "web", "api"]
COMPONENT_TESTS = sorted((ROOT / "tests" / "e2e" / "components").glob("*.gitlab-ci.yml"))
EXAMPLE = ROOT / "tests" / "e2e" / "ds-pipeline.gitlab-ci.yml"


def parent(source: str) -> Pipeline:
    return Pipeline.top("push", tag=True) if source == "tag" else Pipeline.top(source)


def _load(entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """An include of this project's components (``component:`` or ``local: /templates/...``)."""
    if "template" in entry:
        return None  # GitLab's own template (secret detection): its jobs carry their own rules
    if "component" in entry:
        name = str(entry["component"]).rsplit("/", 1)[-1].split("@", 1)[0]
        path = ROOT / "templates" / f"{name}.yml"
    else:
        path = ROOT / str(entry["local"]).lstrip("/")
    return load_template(path).body(dict(entry.get("inputs") or {}))


def _config(path: Path) -> dict[str, Any]:
    return merge_includes(yaml.safe_load(path.read_text(encoding="utf-8")), _load)


# --- the model itself --------------------------------------------------------------------------

def test_jobs_without_rules_run_in_branch_and_tag_pipelines_only() -> None:
    config = {"stages": ["test"], "a": {"script": ["true"]}}
    assert create(config, Pipeline.top("push")).jobs == ("a",)
    assert create(config, Pipeline.top("push", tag=True)).jobs == ("a",)
    assert create(config, Pipeline.top("schedule")).jobs == ("a",)
    assert create(config, Pipeline.top("merge_request_event")).error == NO_JOBS
    # the child of a merge-request pipeline keeps its merge request: not a branch pipeline
    assert create(config, Pipeline.top("merge_request_event").child()).error == NO_JOBS
    assert create(config, Pipeline.top("push").child()).jobs == ("a",)


def test_rules_or_workflow_rules_drop_the_default_only() -> None:
    mr_child = Pipeline.top("merge_request_event").child()
    with_rules = {"a": {"script": ["true"], "rules": [{"when": "on_success"}]}}
    assert create(with_rules, mr_child).jobs == ("a",)
    with_workflow = {"workflow": {"rules": [{"when": "always"}]}, "a": {"script": ["true"]}}
    assert create(with_workflow, mr_child).jobs == ("a",)
    filtered = {"workflow": {"rules": [{"if": '$CI_PIPELINE_SOURCE == "push"'}]},
                "a": {"script": ["true"]}}
    assert create(filtered, mr_child).error == FILTERED


def test_only_except_refs_and_missing_needs() -> None:
    config = {"mr": {"script": ["x"], "only": ["merge_requests"]},
              "main": {"script": ["x"], "only": {"refs": ["/^ma/"]}, "except": ["tags"]},
              "late": {"script": ["x"], "needs": ["main"], "only": ["branches", "merge_requests"]}}
    assert create(config, Pipeline.top("merge_request_event")).error.startswith(
        "'late' job needs 'main' job, but 'main' does not exist in the pipeline")
    assert create(config, Pipeline.top("push")).jobs == ("main", "late")
    optional = {**config, "late": {**config["late"], "needs": [{"job": "main", "optional": True}]}}
    assert create(optional, Pipeline.top("merge_request_event")).jobs == ("mr", "late")


@pytest.mark.parametrize(("expression", "expected"), [
    ('$CI_PIPELINE_SOURCE == "schedule"', True),
    ('$CI_PIPELINE_SOURCE != "schedule"', False),
    ('"parallel" != "sequential"', True),
    ("$CI_COMMIT_TAG =~ /^v\\d+/", False),
    ("$CI_COMMIT_BRANCH && $UNSET", False),
    ("$UNSET || ($CI_COMMIT_BRANCH && $CI_PIPELINE_SOURCE =~ /SCHED/i)", True),
])
def test_expressions(expression: str, expected: bool) -> None:
    variables = {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main"}
    assert evaluate_if(expression, variables) is expected


def test_unmodelled_forms_are_refused() -> None:
    with pytest.raises(NotModelled):
        create({"a": {"script": ["x"], "rules": [{"changes": ["*.py"]}]}}, Pipeline.top("push"))
    with pytest.raises(NotModelled):
        evaluate_if("$A == $B ==", {})


# --- ds-runner detect's child.yml --------------------------------------------------------------

def _detection(notebooks: list[str]) -> Detection:
    return Detection(notebooks=notebooks, skip=not notebooks, reason="test", source="push")


@pytest.mark.parametrize("source", PARENT_SOURCES)
@pytest.mark.parametrize(("mode", "notebooks"), [
    ("parallel", ["notebooks/a.ipynb", "notebooks/b.ipynb"]),
    ("sequential", ["notebooks/a.ipynb", "notebooks/b.ipynb", "notebooks/c.ipynb"]),
    ("parallel", []),  # the nothing-to-run job
])
def test_child_pipeline_gets_every_job_under_every_parent(source: str, mode: str,
                                                          notebooks: list[str]) -> None:
    config = child_pipeline(_detection(notebooks), ChildOptions(image="python:3.11", mode=mode))
    jobs = tuple(name for name in config if name not in ("stages", "workflow"))
    outcome = create(config, parent(source).child())
    assert outcome.created, outcome.error
    assert outcome.jobs == jobs


# --- this project's own child pipelines --------------------------------------------------------

@pytest.mark.parametrize("source", PARENT_SOURCES)
@pytest.mark.parametrize("path", COMPONENT_TESTS, ids=lambda p: p.name.split(".")[0])
def test_component_test_child_pipelines_run_under_every_parent(path: Path, source: str) -> None:
    config = _config(path)
    own = [name for name in yaml.safe_load(path.read_text(encoding="utf-8"))
           if name not in ("stages", "include", "workflow")]
    outcome = create(config, parent(source).child())
    assert outcome.created, outcome.error
    assert set(own) <= set(outcome.jobs), outcome.jobs
    assert any(name.startswith("test-check-") for name in outcome.jobs) or path.name in (
        "publish-metrics-comment.gitlab-ci.yml", "write-to-wiki.gitlab-ci.yml")


@pytest.mark.parametrize("source", PARENT_SOURCES)
def test_example_child_pipeline_runs_under_every_parent(source: str) -> None:
    outcome = create(_config(EXAMPLE), parent(source).child())
    assert outcome.created, outcome.error
    assert {"build-container", "detect-notebooks", "execute-notebook"} <= set(outcome.jobs)


@pytest.mark.parametrize("source", ["merge_request_event", "push", "tag"])
def test_project_pipeline_triggers_the_child_pipelines(source: str) -> None:
    """.gitlab-ci.yml's trigger jobs have no rules: its workflow:rules drop the default only,
    so they exist in merge-request pipelines too."""
    config = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    outcome = create(config, parent(source))
    assert outcome.created, outcome.error
    assert {"component-test", "example"} <= set(outcome.jobs)


def test_a_schedule_on_a_production_tag_scores_and_never_releases() -> None:
    """GitLab sets CI_COMMIT_TAG in a scheduled pipeline on a tag (app/models/ci/pipeline.rb
    predefined variables: the ref is a tag); the handbook's schedule scores with the released
    model, and must not release, re-gate or re-register it from a scoring run."""
    config = merge_includes(load_template(ROOT / "templates" / "ds-pipeline.yml").body({}), _load)
    pushed = create(config, Pipeline.top("push", tag=True))
    scheduled = create(config, Pipeline("schedule", ref="v1.0.0", tag=True))
    assert pushed.created and scheduled.created, (pushed.error, scheduled.error)
    assert {"auto-release", "shadow-compare", "execute-notebook"} <= set(pushed.jobs)
    assert {"build-container", "execute-scheduled", "write-to-wiki"} <= set(scheduled.jobs)
    assert not {"auto-release", "shadow-compare", "execute-notebook"} & set(scheduled.jobs)
