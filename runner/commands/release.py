"""``ds-runner release``: a gated release with a model card, for production tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from runner.build.options import login_from, login_options
from runner.build.promote import ProjectRegistry
from runner.publish import get, publish
from runner.publish.baseline import DEFAULT_BASELINE_JOB, DEFAULT_TAG_REGEX
from runner.publish.options import ci_env, ci_options, show


@click.command("release")
@ci_options
@click.option("--production-tag-regex", envvar="DS_PRODUCTION_TAG_REGEX",
              default=DEFAULT_TAG_REGEX, show_default=True,
              help="Only tags matching this are released.")
@click.option("--image", envvar="DS_IMAGE", default="",
              help="The image the notebooks ran in (build-container's DS_IMAGE); when it lies "
                   "under --registry-image it is tagged :<tag> once the gates pass.")
@click.option("--registry-image", envvar="CI_REGISTRY_IMAGE", default="",
              help="The project's registry image; '' links --image without tagging it. "
                   "Env: CI_REGISTRY_IMAGE.")
@login_options
@click.option("--model-file", envvar="DS_MODEL_FILE", default="",
              help="Artifact path of the model file (default: from metrics.json).")
@click.option("--baseline-job", envvar="DS_BASELINE_JOB", default=DEFAULT_BASELINE_JOB,
              show_default=True, help="Job whose artifacts hold the model file.")
@click.option("--force", is_flag=True, help="Release even if validation gates fail.")
@click.option("--local", "local_tag", metavar="TAG", default="",
              help="Release TAG on this machine: gates against the previous local release, "
                   "the model into the local MLflow registry, notes to "
                   ".ds-runner/report/release-TAG.md; no GitLab.")
def command(**kwargs: Any) -> int:
    """Evaluate the validation gates and create or update the release (GITLAB_TOKEN or
    CI_JOB_TOKEN)."""
    if kwargs["local_tag"]:
        local = get("release-local")(Path.cwd(), kwargs["local_tag"],
                                     tag_regex=kwargs["production_tag_regex"],
                                     force=kwargs["force"], dry_run=kwargs["dry_run"])
        return show(publish(local, kwargs["results_dir"]))
    env = ci_env(kwargs)
    login = login_from(kwargs)
    registry = ProjectRegistry(kwargs["registry_image"], login) if kwargs["registry_image"] \
        else None
    sink = get("release")(env, tag_regex=kwargs["production_tag_regex"], image=kwargs["image"],
                          model_file=kwargs["model_file"], baseline_job=kwargs["baseline_job"],
                          force=kwargs["force"], dry_run=kwargs["dry_run"], registry=registry)
    return show(publish(sink, kwargs["results_dir"]))
