"""``ds-runner run``: the pipeline's work on this machine, with no GitLab.

detect (the notebooks given, ``--all``, or what the last commit and the working tree changed)
-> execute each in turn -> write the merge-request comment and wiki pages it would publish to
``<output dir>/report/`` -> print a summary table. The exit status is the worst notebook's.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from runner.config import INFERENCE_CONFIG, default_config_for, parameter_values
from runner.errors import UsageError
from runner.metrics import RunResult
from runner.paths import NOTEBOOK_GLOB, OUTPUT_DIR

logger = logging.getLogger(__name__)

_SHOWN_METRICS = 4


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else ""


def _working_tree_changes(repo: Path, glob: str) -> list[str]:
    """Notebooks modified, added or untracked in the working tree (not yet committed)."""
    out = _git(repo, "status", "--porcelain", "-z", "--untracked-files=all", "--",
               f":(glob){glob}")
    paths = []
    entries = iter(out.split("\0"))
    for entry in entries:
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] == "R":  # a rename is followed by its source path
            next(entries, None)
        if "D" not in status:
            paths.append(path)
    return sorted(paths)


def select_notebooks(repo: Path, notebooks: Sequence[str], run_all: bool, glob: str) -> list[str]:
    """What ``run`` executes, in order: explicit paths, or all, or the last commit's changes."""
    if notebooks:
        return list(dict.fromkeys(notebooks))
    if run_all:
        found = [p.relative_to(repo).as_posix() for p in repo.glob(glob) if p.is_file()]
        # Training before inference: inference notebooks score the model training writes.
        found = sorted((p for p in found if ".ipynb_checkpoints" not in p),
                       key=lambda p: (default_config_for(p) == INFERENCE_CONFIG, p))
        if not found:
            raise UsageError(f"no notebooks match {glob!r} in {repo}")
        return found
    from runner.changes import DetectContext, detect

    head = _git(repo, "rev-parse", "HEAD").strip()
    if not head:
        raise UsageError(f"{repo} is not a git repository with commits: name notebooks or --all")
    parent = _git(repo, "rev-parse", "--verify", "-q", "HEAD~1").strip()
    ctx = DetectContext(
        pipeline_source="push",
        commit_message=_git(repo, "log", "-1", "--format=%B"),
        commit_sha=head,
        before_sha=parent or "0" * 40,
        notebooks_glob=glob,
    )
    detection = detect(repo, ctx)
    if detection.skip:
        click.echo(f"nothing to run: {detection.reason}", err=True)
        return []
    return list(dict.fromkeys([*detection.notebooks, *_working_tree_changes(repo, glob)]))


def _summary(results: Sequence[RunResult], codes: Sequence[int]) -> str:
    rows = ["| notebook | status | exit | time | metrics |", "|---|---|---|---|---|"]
    for result, code in zip(results, codes, strict=True):
        shown = list(result.metrics.items())[:_SHOWN_METRICS]
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in shown)
        if len(result.metrics) > _SHOWN_METRICS:
            metrics += f", +{len(result.metrics) - _SHOWN_METRICS} more"
        rows.append(f"| {result.notebook} | {result.status} | {code} | "
                    f"{result.duration_s:.1f} s | {metrics or '-'} |")
    return "\n".join(rows)


def _parameters_per_notebook(plans_for: Sequence[str], repo: Path,
                             parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Give each notebook the ``-p`` values its parameters cell declares.

    ``run`` passes one set of parameters to notebooks of different kinds (``-p n_trials 3`` means
    the training notebook); a name that no selected notebook declares is still an error.
    """
    from runner.execute import load_declared

    declared = {nb: load_declared(repo / nb, nb) for nb in plans_for}
    unknown = [name for name in parameters
               if not any(name in (names or ()) for names in declared.values())]
    if unknown:
        raise UsageError(f"parameter(s) {', '.join(unknown)} not declared by any of: "
                         f"{', '.join(plans_for)}")
    return {nb: {k: v for k, v in parameters.items() if k in (names or ())}
            for nb, names in declared.items()}


def run_local(repo: Path, notebooks: Sequence[str], run_all: bool, glob: str, output_dir: Path,
              parameters: Mapping[str, Any], timeout: float | None, html: bool,
              cwd: str = "repo") -> int:
    from runner.execute import exit_code_for, prepare_run, run_plan
    from runner.publish.files import write_local_report

    selected = select_notebooks(repo, notebooks, run_all, glob)
    if not selected:
        return 0
    output_dir = output_dir if output_dir.is_absolute() else repo / output_dir
    per_notebook = _parameters_per_notebook(selected, repo, parameters)
    # Check every notebook before the first kernel starts, as the pipeline's detect job would.
    plans = [prepare_run(nb, repo=repo, output_dir=output_dir, parameters=per_notebook[nb],
                         timeout=timeout, html=html, progress=sys.stderr.isatty(), cwd=cwd)
             for nb in selected]
    results: list[RunResult] = []
    codes: list[int] = []
    for number, plan in enumerate(plans, 1):
        click.echo(f"[{number}/{len(plans)}] {plan.notebook} ...", err=True)
        result = run_plan(plan)
        code = exit_code_for(result)
        detail = f" ({result.error.ename}: {result.error.evalue})" if result.error else ""
        click.echo(f"[{number}/{len(plans)}] {plan.notebook}: {result.status} in "
                   f"{result.duration_s:.1f} s{detail}", err=True)
        results.append(result)
        codes.append(code)
    written = write_local_report(results, output_dir / "report", repo)
    click.echo(_summary(results, codes))
    for path in written:
        click.echo(f"report: {path.relative_to(repo) if path.is_relative_to(repo) else path}")
    return max(codes)


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
    repo = repo.resolve()
    values = parameter_values([repo / path for path in parameter_files], parameter_yaml,
                              parameters)
    return run_local(repo, notebooks, run_all, glob, output_dir, values, timeout, not no_html,
                     cwd)
