"""``ds-runner shadow``: compare the candidate model with production on the rows production
scored last, before a release; writes ``shadow.json`` beside each run, nothing to GitLab."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from runner.paths import OUTPUT_DIR
from runner.publish.baseline import DEFAULT_TAG_REGEX
from runner.publish.options import CI_OPTIONS, ci_env, show
from runner.publish.scheduled import DEFAULT_SCHEDULED_JOB

F = TypeVar("F", bound=Callable[..., Any])


def ci_context(fn: F) -> F:
    """GitLab's predefined variables as options, like the publishing commands' (no --dry-run:
    this command writes nothing to GitLab)."""
    for flag, env, _, text in reversed(CI_OPTIONS):
        fn = click.option(flag, envvar=env, default="", show_envvar=True, help=text)(fn)
    return fn


@click.command("shadow")
@ci_context
@click.option("--results-dir", type=click.Path(path_type=Path), default=OUTPUT_DIR,
              envvar="DS_RUNNER_RESULTS_DIR", show_default=True,
              help="Where `ds-runner execute` wrote metrics.json files.")
@click.option("--scheduled-job", "scheduled_jobs", multiple=True, envvar="DS_SCHEDULED_JOB",
              default=(DEFAULT_SCHEDULED_JOB,), show_default=True,
              help="Name of the scheduled scoring job whose kept input is scored (repeatable).")
@click.option("--scoring-notebook", envvar="SCORING_NOTEBOOK", default="", show_envvar=True,
              help="Scheduled notebook whose input is scored, for configs whose gates.shadow "
              "names none.")
@click.option("--production-tag-regex", envvar="DS_PRODUCTION_TAG_REGEX",
              default=DEFAULT_TAG_REGEX, show_default=True,
              help="Tags of production releases; the newest one's model is production.")
@click.option("--local", is_flag=True,
              help="On this machine, after `ds-runner run`: production is the newest "
              "`ds-runner release --local` model, the rows the scoring notebook's last local run "
              "kept; no GitLab.")
def command(**kwargs: Any) -> int:
    """Score the input of the latest scheduled scoring run with the candidate and the production
    model; record agreement, score PSI and latency ratio for gates.shadow (token: GITLAB_TOKEN,
    or CI_JOB_TOKEN where it may list jobs)."""
    from runner.publish.shadow import ShadowOptions, run_shadow

    env = ci_env(kwargs)
    options = ShadowOptions(tuple(kwargs["scheduled_jobs"]), kwargs["production_tag_regex"],
                            kwargs["scoring_notebook"], dict(os.environ))
    if kwargs["local"]:
        return show(run_shadow(None, kwargs["results_dir"], options, Path.cwd()))
    return show(run_shadow(env, kwargs["results_dir"], options))

