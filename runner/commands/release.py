"""``ds-runner release``: a gated release with a model card, for production tags."""

from __future__ import annotations

from typing import Any

import click

from runner.publish import get, publish
from runner.publish.baseline import DEFAULT_BASELINE_JOB, DEFAULT_TAG_REGEX
from runner.publish.options import ci_env, ci_options, show


@click.command("release")
@ci_options
@click.option("--production-tag-regex", envvar="DS_PRODUCTION_TAG_REGEX",
              default=DEFAULT_TAG_REGEX, show_default=True,
              help="Only tags matching this are released.")
@click.option("--image", envvar="DS_IMAGE", default="", help="Container image reference.")
@click.option("--model-file", envvar="DS_MODEL_FILE", default="",
              help="Artifact path of the model file (default: from metrics.json).")
@click.option("--baseline-job", envvar="DS_BASELINE_JOB", default=DEFAULT_BASELINE_JOB,
              show_default=True, help="Job whose artifacts hold the model file.")
@click.option("--force", is_flag=True, help="Release even if validation gates fail.")
def command(**kwargs: Any) -> int:
    """Evaluate the validation gates and create or update the release (GITLAB_TOKEN or
    CI_JOB_TOKEN)."""
    env = ci_env(kwargs)
    sink = get("release")(env, tag_regex=kwargs["production_tag_regex"], image=kwargs["image"],
                          model_file=kwargs["model_file"], baseline_job=kwargs["baseline_job"],
                          force=kwargs["force"], dry_run=kwargs["dry_run"])
    return show(publish(sink, kwargs["results_dir"]))
