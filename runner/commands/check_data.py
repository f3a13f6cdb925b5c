"""``ds-runner check-data``: a data file against one data set's ``data_checks:`` of a config."""

from __future__ import annotations

from pathlib import Path

import click

from runner.errors import ExitCode
from runner.monitor.datafile import check_file
from runner.report.gates import GateResult
from runner.report.render import gate_table


@click.command("check-data")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config", required=True, envvar="DS_CONFIG", metavar="PATH",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Config file with the data_checks: block. Env: DS_CONFIG.")
@click.option("--dataset", envvar="DS_DATASET", metavar="NAME",
              help="Data set under data_checks: to check the file against; may be left out "
                   "when the config declares one. Env: DS_DATASET.")
def command(file: Path, config: Path, dataset: str | None) -> int:
    """Check a CSV or Parquet FILE (.parquet/.pq; anything else is read as CSV).

    Exit status: 0 every check passed; 7 a check failed; 2 a bad config, an unknown data set or
    an unreadable file.
    """
    checked = check_file(file, config, dataset)
    rows = [GateResult("data", o.name, o.value, o.limit, o.passed, o.detail,
                       has_value=o.value is not None) for o in checked.outcomes]
    failed = len(checked.failed)
    click.echo(gate_table(rows, plain=True,
                          title=f"data checks of {checked.dataset} on {file} "
                                f"({checked.rows} rows): {len(rows) - failed} of {len(rows)} "
                                "passed"))
    return ExitCode.GATE_FAILED if failed else ExitCode.SUCCESS
