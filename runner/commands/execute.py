"""``ds-runner execute``: run notebooks with papermill as a CI job should.

See docs/commands/execute.md.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from runner import log
from runner.config import parameter_values
from runner.errors import ExitCode, UsageError
from runner.metrics import RunResult
from runner.paths import OUTPUT_DIR


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _secret_values(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    values = {}
    for name, variable in pairs:
        if variable not in os.environ:
            raise UsageError(f"--secret-parameter {name} {variable}: "
                             f"variable {variable} is not set")
        values[name] = os.environ[variable]
        log.masker().add([values[name]])
    return values


def _json_when_refused(run: Callable[..., int]) -> Callable[..., int]:
    """With --json, a run refused before any notebook started (exit 2) prints its result
    object too: ``status`` ``usage_error``, ``exit_code`` and the ``error``."""

    @functools.wraps(run)
    def wrapper(**options: Any) -> int:
        try:
            return run(**options)
        except UsageError as e:
            if options.get("as_json"):
                given = list(options.get("notebooks") or ())
                data = {"notebook": given[0] if len(given) == 1 else None,
                        "status": "usage_error", "exit_code": e.exit_code,
                        "error": {"cell_index": None, "execution_count": None,
                                  "ename": type(e).__name__,
                                  "evalue": log.masker().mask(str(e))}}
                click.echo(json.dumps(data, sort_keys=True))
            raise

    return wrapper


@click.command("execute")
@click.argument("notebooks", nargs=-1)
@click.option("-p", "--parameter", "parameters", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Set a parameter declared in the notebook's parameters cell; the value is "
                   "coerced to the type of its default. Repeatable.")
@click.option("--secret-parameter", "secret_parameters", nargs=2, multiple=True,
              metavar="NAME ENVVAR",
              help="Set parameter NAME from environment variable ENVVAR; its value is masked "
                   "in every output. Repeatable.")
@click.option("-f", "--parameters-file", "parameter_files", multiple=True, metavar="FILE",
              help="YAML file of parameters (relative to --repo), as papermill -f takes it. "
                   "Repeatable: a later file wins over an earlier one, -y over -f, -p over both.")
@click.option("-y", "--parameters-yaml", "parameter_yaml", multiple=True, metavar="YAML",
              help="Parameters as a YAML mapping, e.g. '{epochs: 5}', as papermill -y takes it. "
                   "Repeatable.")
@click.option("--config", "config_path", envvar="DS_CONFIG", metavar="PATH",
              help="Config file given to the notebook as config_path (relative to --repo). "
                   "Default: the notebook's metadata ds_runner.config, else "
                   "inference_config.yaml for inference/scoring notebooks, else "
                   "training_config.yaml. Env: DS_CONFIG.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(OUTPUT_DIR), envvar="DS_OUTPUT_DIR", show_default=True,
              help="Where outputs go, one folder per notebook (relative to --repo). "
                   "Env: DS_OUTPUT_DIR.")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=Path("."), envvar="CI_PROJECT_DIR", show_default=True,
              help="Repository root: notebook paths are relative to it and kernels run in it "
                   "(see --cwd). "
                   "Env: CI_PROJECT_DIR.")
@click.option("--cwd", default="repo", envvar="DS_KERNEL_CWD", show_default=True,
              metavar="repo|notebook|PATH",
              help="The kernel's working directory: the repository root, the notebook's folder "
                   "(as Jupyter and nbmake), or a directory (relative to --repo). "
                   "Env: DS_KERNEL_CWD.")
@click.option("--timeout", type=float, envvar="DS_NOTEBOOK_TIMEOUT",
              help="Seconds for the whole notebook, kernel start included (exit 3 when "
                   "exceeded). Env: DS_NOTEBOOK_TIMEOUT.")
@click.option("--cell-timeout", type=float, envvar="DS_CELL_TIMEOUT",
              help="Seconds for any one cell (exit 3 when exceeded). Env: DS_CELL_TIMEOUT.")
@click.option("--kernel", "kernel_name", envvar="DS_KERNEL", metavar="NAME",
              help="Kernel to use instead of the notebook's own. Env: DS_KERNEL.")
@click.option("--html/--no-html", default=True, show_default=True, envvar="DS_HTML",
              help="Also write an HTML rendering of the executed notebook. Env: DS_HTML "
                   "(true/false).")
@click.option("--progress/--no-progress", default=None,
              help="Show a per-cell progress bar (default: when stderr is a terminal and "
                   "--log-output is off).")
@click.option("--log-output/--no-log-output", default=None, envvar="DS_LOG_OUTPUT",
              help="Show each cell as it starts and its stdout/stderr as they arrive, masked, "
                   "on stderr (default: when CI is set). Env: DS_LOG_OUTPUT (true/false).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, envvar="DS_JOBS",
              show_default=True, metavar="N",
              help="With several notebooks, run N at once (each on its own kernel; output lines "
                   "then start with the notebook's path). Whatever N, the next notebook's "
                   "kernel starts while the current ones run. Env: DS_JOBS.")
@click.option("--from-detect", "from_detect", metavar="FILE",
              help="Run the notebooks listed in `ds-runner detect --json` output (`-` for "
                   "stdin) one after another.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per notebook on stdout: the metrics.json fields "
                   "plus exit_code and output_notebook (one object with the error when "
                   "nothing ran, exit 2).")
@_json_when_refused
def command(notebooks: tuple[str, ...], parameters: tuple[tuple[str, str], ...],
            secret_parameters: tuple[tuple[str, str], ...], parameter_files: tuple[str, ...],
            parameter_yaml: tuple[str, ...], config_path: str | None,
            output_dir: Path, repo: Path, cwd: str, timeout: float | None,
            cell_timeout: float | None,
            kernel_name: str | None, html: bool, progress: bool | None,
            log_output: bool | None, jobs: int, from_detect: str | None, as_json: bool) -> int:
    """Run NOTEBOOK(s) with papermill, in order (--jobs N: N at once), continuing after
    failures; each notebook gets a fresh kernel.

    Exit status: 0 all succeeded; 1 a cell raised; 2 usage, parameter or config error (nothing
    ran); 3 timeout; 4 kernel died; 130 interrupted (SIGINT); 143 terminated (SIGTERM). With
    several notebooks, the most severe: 143 > 130 > 4 > 3 > 1.
    """
    from runner.execute import reaper
    from runner.execute.notebook import (
        RunOptions,
        describe,
        execute_sequence,
        exit_code_for,
        notebook_output_dir,
        overall_exit_code,
        read_detect_file,
    )

    selected = list(notebooks)
    if from_detect is not None:
        if selected:
            raise UsageError("give NOTEBOOK paths or --from-detect, not both")
        selected, skip, reason = read_detect_file(from_detect)
        if skip or not selected:
            click.echo(f"ds-runner: nothing to run ({reason or 'no notebooks'})", err=True)
            return 0
    if not selected:
        raise UsageError("no notebook given: name NOTEBOOK paths or use --from-detect FILE")
    values = parameter_values([repo / path for path in parameter_files], parameter_yaml,
                              parameters)
    if log_output is None:
        log_output = bool(os.environ.get("CI"))

    def report(result: RunResult) -> None:
        out = (output_dir if output_dir.is_absolute() else repo / output_dir).resolve()
        notebook_file = notebook_output_dir(out, result.notebook) / result.artifacts["notebook"]
        line = f"ds-runner: {result.notebook}: {describe(result)} -> {_relative(notebook_file)}"
        click.echo(log.masker().mask(line), err=True)
        if as_json:
            data: dict[str, Any] = {**result.to_dict(), "exit_code": exit_code_for(result),
                                    "output_notebook": _relative(notebook_file)}
            click.echo(json.dumps(data, sort_keys=True))

    options = RunOptions(
        repo=repo, output_dir=output_dir, parameters=values,
        secret_parameters=_secret_values(secret_parameters), config_path=config_path,
        timeout=timeout, cell_timeout=cell_timeout, kernel_name=kernel_name, html=html, cwd=cwd,
        log_output=log_output,
        progress=sys.stderr.isatty() and not log_output if progress is None else progress)
    with reaper.graceful_stop():  # the first SIGINT/SIGTERM still saves every output
        results = execute_sequence(selected, options, on_result=report, jobs=jobs)
        stop = reaper.stop_signal()
    return max(overall_exit_code(results), ExitCode.for_signal(stop) if stop else ExitCode.SUCCESS)
