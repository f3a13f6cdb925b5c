"""Click options shared by ``ds-runner comment|wiki|release|collect``: GitLab's predefined
variables; and :func:`show`, which prints what such a command's library call returns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runner.paths import OUTPUT_DIR
from runner.publish import Outcome
from runner.publish.ci import CiEnv

F = TypeVar("F", bound=Callable[..., Any])

# (option, envvar, CiEnv field, help)
CI_OPTIONS = [
    ("--server-url", "CI_SERVER_URL", "server_url", "GitLab base URL."),
    ("--api-url", "CI_API_V4_URL", "api_url", "API root; used when --server-url is unset."),
    ("--project", "CI_PROJECT_ID", "project", "Project ID (or URL-encodable path)."),
    ("--project-path", "CI_PROJECT_PATH", "project_path", "namespace/project, for web links."),
    ("--pipeline-id", "CI_PIPELINE_ID", "pipeline_id", "Pipeline ID."),
    ("--pipeline-url", "CI_PIPELINE_URL", "pipeline_url", "Pipeline web URL."),
    ("--job-url", "CI_JOB_URL", "job_url", "Job web URL (artifact links)."),
    ("--commit-sha", "CI_COMMIT_SHA", "commit_sha", "Commit of the run."),
    ("--commit-tag", "CI_COMMIT_TAG", "commit_tag", "Tag of a tag pipeline."),
    ("--mr-iid", "CI_MERGE_REQUEST_IID", "mr_iid", "Merge request IID."),
    ("--target-branch", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "target_branch",
     "Branch whose latest successful run is the baseline."),
    ("--default-branch", "CI_DEFAULT_BRANCH", "default_branch", "Default branch."),
]


def ci_options(fn: F) -> F:
    """Add the CI options and ``--results-dir``/``--dry-run``."""
    for flag, env, _, text in reversed(CI_OPTIONS):
        fn = click.option(flag, envvar=env, default="", show_envvar=True, help=text)(fn)
    fn = click.option("--results-dir", type=click.Path(path_type=Path), default=OUTPUT_DIR,
                      envvar="DS_RUNNER_RESULTS_DIR", show_default=True,
                      help="Where `ds-runner execute` wrote metrics.json files.")(fn)
    fn = click.option("--dry-run", is_flag=True, envvar="DS_RUNNER_DRY_RUN",
                      help="Print every write (method, path, body); send none.")(fn)
    return fn


def ci_env(kwargs: dict[str, Any]) -> CiEnv:
    """Pop the CI options into a CiEnv; tokens come from the environment only."""
    import os

    values = {field: str(kwargs.pop(flag[2:].replace("-", "_")) or "")
              for flag, _, field, _ in CI_OPTIONS}
    return CiEnv(**values, token=os.environ.get("GITLAB_TOKEN", ""),
                 job_token=os.environ.get("CI_JOB_TOKEN", ""))


def show(outcome: Outcome) -> int:
    """Print what a publishing call did, then raise the error it stopped at; else 0."""
    for line in outcome.lines:
        click.echo(line)
    if outcome.error is not None:
        raise outcome.error
    return 0
