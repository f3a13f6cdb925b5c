"""``ds-runner comment``: the merge request's one living metrics note."""

from __future__ import annotations

from typing import Any

import click

from runner.publish import get, publish
from runner.publish.baseline import DEFAULT_BASELINE_JOB, DEFAULT_TAG_REGEX
from runner.publish.options import ci_env, ci_options, show


@click.command("comment")
@ci_options
@click.option("--baseline-job", envvar="DS_BASELINE_JOB", default=DEFAULT_BASELINE_JOB,
              show_default=True, help="Job whose metrics.json artifacts on the target branch "
              "are the baseline.")
@click.option("--production-tag-regex", envvar="DS_PRODUCTION_TAG_REGEX",
              default=DEFAULT_TAG_REGEX, show_default=True,
              help="Tags of production releases (the production baseline).")
def command(**kwargs: Any) -> int:
    """Create or update the metrics comment on the merge request (token: GITLAB_TOKEN)."""
    env = ci_env(kwargs)
    sink = get("comment")(env, baseline_job=kwargs["baseline_job"],
                          tag_regex=kwargs["production_tag_regex"], dry_run=kwargs["dry_run"])
    return show(publish(sink, kwargs["results_dir"]))
