"""``ds-runner run``: the pipeline's work on this machine, with no GitLab (``runner.local``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.config import parameter_values
from runner.paths import NOTEBOOK_GLOB, OUTPUT_DIR


@click.command("run")
@click.argument("notebooks", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every notebook matching --glob.")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Repository root.")
@click.option("--glob", default=NOTEBOOK_GLOB, envvar="DS_NOTEBOOKS_GLOB", show_default=True,
              help="Which files are notebooks.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=OUTPUT_DIR,
              envvar="DS_OUTPUT_DIR", show_default=True, help="Where results and reports go.")
@click.option("-p", "--parameter", "parameters", type=(str, str), multiple=True,
              help="NAME VALUE passed to every notebook (repeatable).")
@click.option("-f", "--parameters-file", "parameter_files", multiple=True, metavar="FILE",
              help="YAML file of parameters (relative to --repo), as in ds-runner execute.")
@click.option("-y", "--parameters-yaml", "parameter_yaml", multiple=True, metavar="YAML",
              help="Parameters as a YAML mapping, as in ds-runner execute.")
@click.option("--timeout", type=float, envvar="DS_NOTEBOOK_TIMEOUT",
              help="Seconds each notebook may run.")
@click.option("--no-html", is_flag=True, help="Skip the HTML rendering.")
@click.option("--cwd", default="repo", envvar="DS_KERNEL_CWD", show_default=True,
              metavar="repo|notebook|PATH",
              help="The kernel's working directory, as in ds-runner execute.")
def command(notebooks: tuple[str, ...], run_all: bool, repo: Path, glob: str, output_dir: Path,
            parameters: tuple[tuple[str, str], ...], parameter_files: tuple[str, ...],
            parameter_yaml: tuple[str, ...], timeout: float | None, no_html: bool,
            cwd: str) -> int:
    """Run notebooks locally as the pipeline would and write its reports to files.

    With no NOTEBOOKS and no --all, runs what the last commit changed (obeying its [run path]
    and [skip run] directives) plus notebooks changed in the working tree.
    """
    from runner.execute.notebook import RunOptions
    from runner.local import Selection, run_local

    repo = repo.resolve()
    values = parameter_values([repo / path for path in parameter_files], parameter_yaml,
                              parameters)
    options = RunOptions(repo=repo, output_dir=output_dir, parameters=values, timeout=timeout,
                         html=not no_html, progress=sys.stderr.isatty(), cwd=cwd)
    outcome = run_local(Selection(notebooks, run_all, glob), options,
                        on_progress=lambda line: click.echo(line, err=True))
    if outcome.skipped:
        click.echo(f"nothing to run: {outcome.skipped}", err=True)
    if outcome.results:
        click.echo(outcome.summary())
    for path in outcome.reports:
        click.echo(f"report: {path.relative_to(repo) if path.is_relative_to(repo) else path}")
    if outcome.retrain:
        click.echo("a drift gate failed; in a scheduled job `ds-runner monitor` would:")
        for line in outcome.retrain:
            click.echo(line)
    return outcome.exit_code
