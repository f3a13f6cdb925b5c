"""``ds-runner collect``: fetch a child pipeline's notebook results into the parent's job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from runner.publish.options import ci_env, ci_options, show


@click.command("collect")
@ci_options
@click.option("--trigger-job", envvar="DS_CHILD_TRIGGER_JOB", default="", show_default=True,
              help="Only the child pipeline of this trigger job (default: every trigger job "
              "of the pipeline).")
@click.option("--max-archive-mb", envvar="DS_COLLECT_MAX_ARCHIVE_MB", type=click.IntRange(1),
              default=1024, show_default=True,
              help="Largest artifacts archive to download, in MB; it may expand to 4 times "
              "that.")
@click.option("--reused", "reused_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Instead: copy the results a tag pipeline reuses (the `reused` "
              "list of this `ds-runner detect --json` file) from their earlier jobs (token: "
              "GITLAB_TOKEN or CI_JOB_TOKEN).")
def command(**kwargs: Any) -> int:
    """Download the .ds-runner/ results of the child pipeline(s) this pipeline triggered
    (parallel mode) into --results-dir (token: GITLAB_TOKEN)."""
    from runner.publish.collect import MB, Limits, collect

    env = ci_env(kwargs)
    if kwargs["reused_file"] is not None:
        from runner.publish.reuse_collect import collect_reused

        return show(collect_reused(env, kwargs["results_dir"], kwargs["reused_file"],
                                   dry_run=kwargs["dry_run"],
                                   limits=Limits(archive_bytes=kwargs["max_archive_mb"] * MB)))
    return show(collect(env, kwargs["results_dir"], trigger_job=kwargs["trigger_job"],
                        dry_run=kwargs["dry_run"],
                        limits=Limits(archive_bytes=kwargs["max_archive_mb"] * MB)))
