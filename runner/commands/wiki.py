"""``ds-runner wiki``: record the runs in the project wiki."""

from __future__ import annotations

from typing import Any

import click

from runner.publish import get, publish
from runner.publish.options import ci_env, ci_options, show
from runner.report.wiki_pages import MAX_ROWS


@click.command("wiki")
@ci_options
@click.option("--wiki-prefix", envvar="DS_WIKI_PREFIX", default="ds-pipeline",
              show_default=True, help="Directory of the wiki pages.")
@click.option("--max-rows", envvar="DS_WIKI_MAX_ROWS", type=click.IntRange(min=10),
              default=MAX_ROWS, show_default=True,
              help="Runs kept per page; older rows move to the archive page.")
@click.option("--settle-seconds", envvar="DS_WIKI_SETTLE_S", type=click.FloatRange(min=0),
              default=2.0, show_default=True,
              help="Wait before re-reading a page to check no concurrent write lost our row.")
def command(**kwargs: Any) -> int:
    """Add this run to the per-notebook wiki pages and the index (token: GITLAB_TOKEN)."""
    env = ci_env(kwargs)
    sink = get("wiki")(env, prefix=kwargs["wiki_prefix"], max_rows=kwargs["max_rows"],
                       settle_s=kwargs["settle_seconds"], dry_run=kwargs["dry_run"])
    return show(publish(sink, kwargs["results_dir"]))
