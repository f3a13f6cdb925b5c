"""``ds-runner monitor``: a scheduled job's drift gates, and the retraining they call for."""

from __future__ import annotations

from typing import Any

import click

from runner.publish.options import ci_env, ci_options


@click.command("monitor")
@ci_options
def command(**kwargs: Any) -> int:
    """Judge the drift gates of the runs; when one failed, start the training pipeline the
    notebook's `retrain:` names (or name the one started within its cool-down) and exit 7.
    Token: GITLAB_TOKEN (Developer; see docs/commands/monitor.md)."""
    from runner.publish.monitor import monitor

    env = ci_env(kwargs)
    return int(monitor(kwargs["results_dir"], env, dry_run=kwargs["dry_run"],
                       echo=click.echo).exit_code)
