"""``ds-runner execute``: run one notebook as a CI job should, and leave everything a report needs
in ``<output dir>/<notebook path without .ipynb>/``.

Usage problems (missing notebook, unknown or uncoercible parameter, missing kernel, broken config)
raise UsageError/ConfigError before anything runs. A notebook that fails, times out or kills its
kernel does not raise: the RunResult says so, and the executed notebook is saved regardless.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import __version__, log
from runner.detect.contentkey import content_key, image_of
from runner.errors import NOTEBOOK_USAGE_ERRORS, STATUS_CODES, ExitCode, UsageError
from runner.execute.injection import inject_parameters, prepare_parameters, resolve_config
from runner.execute.kernels import KernelChoice
from runner.execute.outputs import NotebookWriter, clear_stale, finish_result, notebook_output_dir
from runner.execute.schedule import NotRun, Schedule, Turn
from runner.masking import MASK, MIN_SECRET_LENGTH, Masker, masker_for
from runner.metrics import OUTPUT_DIR_ENV, RunResult
from runner.paths import NOTEBOOK_SUFFIX, OUTPUT_DIR, notebook_stem, outside_repository

logger = logging.getLogger(__name__)

__all__ = ["RunOptions", "RunPlan", "describe", "execute_notebook", "execute_sequence",
           "exit_code_for", "load_declared", "notebook_output_dir", "overall_exit_code",
           "prepare_run", "read_detect_file", "run_plan"]


@dataclass(frozen=True)
class RunOptions:
    """How to run notebooks: what ``ds-runner execute`` and ``run`` turn their options into."""

    repo: Path = Path(".")
    output_dir: Path = Path(OUTPUT_DIR)  # relative to ``repo``
    parameters: Mapping[str, Any] = field(default_factory=dict)
    secret_parameters: Mapping[str, str] = field(default_factory=dict)
    config_path: str | None = None
    timeout: float | None = None
    cell_timeout: float | None = None
    kernel_name: str | None = None
    html: bool = True
    progress: bool = False
    cwd: str = "repo"  # the kernel's working directory: repo, notebook or a directory
    log_output: bool = False


@dataclass
class RunPlan:
    """Everything checked and decided before a kernel starts."""

    notebook: str  # repository-relative POSIX path
    source: Path
    repo: Path
    folder: Path
    nb: Any  # the loaded nbformat node
    kernel_name: str
    language: str
    parameters: dict[str, Any]  # injected values
    shown: dict[str, Any]  # the same with secret values replaced by [MASKED]
    device: str
    masker: Masker
    timeout: float | None = None
    cell_timeout: float | None = None
    html: bool = True
    progress: bool = False
    secret_names: set[str] = field(default_factory=set)
    cwd: Path | None = None  # the kernel's working directory (None: the repository)
    log_output: bool = False  # show cells and their output in the job log as they run
    label_output: bool = False  # name the notebook on every output line (--jobs N > 1)
    sweep_store: bool = True  # False: the sequence sweeps the MLflow store once, at its end
    km: Any = None  # the kernel's manager when it was started during preparation (one notebook)
    content_key: str = ""  # runner.detect.contentkey, recorded as info.content_key


def exit_code_for(result: RunResult) -> ExitCode:
    """The run's status as an exit code (``runner.errors.STATUS_CODES``); a notebook that rejects
    its own config is a configuration error for the caller, like a bad -p: exit 2."""
    if result.status == "failed" and result.error \
            and result.error.ename in NOTEBOOK_USAGE_ERRORS:
        return ExitCode.USAGE
    return STATUS_CODES.get(result.status, ExitCode.FAILED)


def _locate(notebook: str | Path, repo: Path) -> tuple[Path, str]:
    path = Path(notebook)
    path = (path if path.is_absolute() else repo / path).resolve()
    if path.suffix != NOTEBOOK_SUFFIX:
        raise UsageError(f"{notebook}: not a notebook (expected a {NOTEBOOK_SUFFIX} file)")
    if not path.is_file():
        raise UsageError(f"{notebook}: notebook not found (relative paths are taken from "
                         f"the repository {repo})")
    if not path.is_relative_to(repo):
        given = Path(notebook) if Path(notebook).is_absolute() else repo / notebook
        linked = Path(os.path.normpath(given)).is_relative_to(repo)  # a link led it outside
        raise outside_repository(str(notebook), repo, path, linked)
    return path, path.relative_to(repo).as_posix()


def _load(path: Path, name: str) -> Any:
    """The notebook, with an id for every cell: nbformat 4.5 wants them, and without them
    nbformat warns (MissingIDFieldWarning) on reading and again on every save."""
    import warnings

    from nbformat.corpus import words
    from nbformat.warnings import MissingIDFieldWarning

    from runner.execute.engine import import_papermill

    import_papermill()
    from papermill.iorw import load_notebook_node

    corpus: Any = words

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nb = load_notebook_node(str(path))
    except Exception as e:  # nbformat raises several unrelated types for broken files
        raise UsageError(f"{name}: cannot read the notebook: {e}") from e
    if (nb.nbformat, nb.nbformat_minor) >= (4, 5):
        for cell in nb.cells:
            cell.setdefault("id", corpus.generate_corpus_id())
    return nb


class _AnyName:
    """Every name: what a parameters cell papermill cannot inspect may declare."""

    def __contains__(self, name: object) -> bool:
        return True


def load_declared(path: Path, name: str) -> Container[str] | None:
    """Names a notebook's parameters cell declares (None: it has no parameters cell; every name
    when papermill cannot inspect the notebook's language)."""
    from runner.execute.kernels import choose_kernel
    from runner.execute.parameters import Unchecked, declared_parameters

    nb = _load(path, name)
    kernel = choose_kernel(nb.metadata, None, name, warn=False)  # prepare_run warns
    declared = declared_parameters(nb, kernel.name, kernel.language)
    if isinstance(declared, Unchecked):
        return _AnyName()
    return None if declared is None else set(declared)


def prepare_run(notebook: str | Path, options: RunOptions = RunOptions(), *,
                early: bool = False) -> RunPlan:
    """Check everything that can be checked without a kernel; raise UsageError if it is wrong.

    ``early`` (one notebook): start its kernel as soon as its name, working directory and
    environment are known, before papermill is imported, so that it boots meanwhile
    (``plan.km``, which ``run_plan`` must then get, on this thread). A check that fails after
    that shuts the kernel down before it raises."""
    from runner.execute.kernels import choose_kernel, start_kernel, stop_kernel

    repo = Path(options.repo).resolve()
    source, rel, out, workdir = _check_paths(notebook, options, repo)
    kernel, km = None, None
    metadata = _peek_metadata(source) if early else None
    if metadata is not None:
        kernel = choose_kernel(metadata, options.kernel_name, rel)
        folder = notebook_output_dir(out, rel)
        km = start_kernel(kernel.name, workdir, _kernel_env(repo, folder))
    try:
        plan = _prepare(source, rel, out, workdir, repo, options, kernel)
    except BaseException:
        if km is not None:
            stop_kernel(km)
        raise
    plan.km = km
    return plan


def _check_paths(notebook: str | Path, options: RunOptions,
                 repo: Path) -> tuple[Path, str, Path, Path]:
    """The notebook's file and repository-relative name, the output folder and the kernel's
    working directory, checked."""
    out = Path(options.output_dir)
    out = (out if out.is_absolute() else repo / out).resolve()
    if out == repo or repo.is_relative_to(out):
        raise UsageError(f"--output-dir {options.output_dir} would be the repository or contain "
                         "it; ds-runner clears stale output folders, so use a directory of its "
                         "own")
    for name, value in (("--timeout", options.timeout), ("--cell-timeout", options.cell_timeout)):
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be a positive number of seconds, got {value:g}")
    source, rel = _locate(notebook, repo)
    return source, rel, out, _kernel_cwd(options.cwd, repo, source)


def _peek_metadata(source: Path) -> dict[str, Any] | None:
    """The notebook's metadata read as plain JSON, without nbformat and papermill (None when
    it cannot be read so: ``_load`` says why)."""
    import json

    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return metadata if isinstance(metadata, dict) else None


def _prepare(source: Path, rel: str, out: Path, workdir: Path, repo: Path, options: RunOptions,
             kernel: KernelChoice | None) -> RunPlan:
    from runner.execute.device import detect_device
    from runner.execute.kernels import choose_kernel
    from runner.execute.parameters import declared_parameters

    nb = _load(source, rel)
    if kernel is None:
        kernel = choose_kernel(nb.metadata, options.kernel_name, rel)
    folder = notebook_output_dir(out, rel)
    device = detect_device()
    declared = declared_parameters(nb, kernel.name, kernel.language)
    config = resolve_config(rel, nb, repo, options.config_path, "config_path" in (declared or {}))
    runner_values = {
        "config_path": _for_kernel(config, repo, workdir),
        "device": device,
        "output_dir": _for_kernel(_shown_path(folder, repo), repo, workdir),
    }
    values, secret_names = prepare_parameters(rel, declared, options.parameters,
                                              options.secret_parameters)
    injected = {**runner_values, **values}
    key = content_key(repo, rel, config=config, image=image_of(os.environ),
                      runner_version=__version__, metadata=nb.metadata)
    secrets = _secret_values(rel, injected, secret_names)
    masker = masker_for(*secrets)
    log.masker().add(secrets)
    # A -p value can equal a secret too: what is shown (the injected cell, metadata, metrics.json)
    # is masked like any other text.
    shown = {k: (MASK if k in secret_names else masker.mask_obj(v, keys=True))
             for k, v in injected.items()}
    return RunPlan(rel, source, repo, folder, nb, kernel.name, kernel.language, injected, shown,
                   device, masker, options.timeout, options.cell_timeout, options.html,
                   options.progress, secret_names, workdir, options.log_output,
                   content_key=key.key)


def _kernel_env(repo: Path, folder: Path) -> dict[str, str]:
    """The kernel's environment: ours, where MLflow logs, and the notebook's output folder."""
    from runner.mlflow_env import mlflow_env

    return {**os.environ, **mlflow_env(os.environ, repo), OUTPUT_DIR_ENV: str(folder)}


def _kernel_cwd(choice: str, repo: Path, source: Path) -> Path:
    """``--cwd``: ``repo`` (the default), ``notebook`` (its folder, as Jupyter and nbmake), or a
    directory (relative to the repository)."""
    if choice == "repo":
        return repo
    if choice == "notebook":
        return source.parent
    path = Path(choice)
    path = (path if path.is_absolute() else repo / path).resolve()
    if not path.is_dir():
        raise UsageError(f"--cwd {choice}: no such directory (relative paths are taken from the "
                         f"repository {repo}; or use repo or notebook)")
    return path


def _for_kernel(value: str, repo: Path, cwd: Path) -> str:
    """A repository-relative path the notebook gets, made relative to its working directory
    (absolute when that directory lies outside the repository), so ``open(config_path)`` works."""
    path = Path(value)
    if cwd == repo or path.is_absolute():
        return value
    if not cwd.is_relative_to(repo):
        return str(repo / path)
    return Path(os.path.relpath(repo / path, cwd)).as_posix()


def _shown_path(path: Path, repo: Path) -> str:
    try:
        return path.relative_to(repo).as_posix()
    except ValueError:
        return str(path)


def _secret_values(where: str, values: Mapping[str, Any], names: set[str]) -> list[str]:
    """The secret parameters' values (Masker adds their escaped forms); warns once if short."""
    secrets = [str(values[name]) for name in sorted(names)]
    short = [name for name, text in zip(sorted(names), secrets, strict=True)
             if len(text.strip()) < MIN_SECRET_LENGTH]
    if short:
        logger.warning("%s: secret parameter %s is shorter than %d characters: it is masked in "
                       "metrics and the parameters cell, but not inside cell outputs", where,
                       ", ".join(short), MIN_SECRET_LENGTH)
    return secrets


def _sweep(plan: RunPlan, env: Mapping[str, str], notebook_file: Path, started_at: str) -> None:
    """Mask the files the notebook wrote itself: its output folder and, of a local MLflow store
    inside the repository (GitLab takes artifacts only from there), what changed during the run.
    Our own files are masked as they are written and are skipped, as are the folders of nested
    notebooks."""
    from runner.metrics import RECORDS_FILE

    if plan.sweep_store:
        _sweep_store(plan, env, started_at)
    nested = plan.repo / notebook_stem(plan.notebook)
    exclude = {notebook_file, notebook_file.with_name(notebook_file.name + ".tmp"),
               plan.folder / RECORDS_FILE}
    exclude |= {p for p in plan.folder.iterdir() if p.is_dir() and (
        (nested / p.name).is_dir() or (nested / f"{p.name}{NOTEBOOK_SUFFIX}").is_file())}
    plan.masker.sweep([plan.folder], exclude)


def _sweep_store(plan: RunPlan, env: Mapping[str, str], started_at: str) -> None:
    from runner.mlflow_env import local_store

    store = local_store(env, plan.repo)
    if store is not None and store.is_relative_to(plan.repo) \
            and not plan.folder.is_relative_to(store):
        # A store grows run after run; earlier files were swept by their own runs. The margin
        # covers started_at's whole seconds and file systems with coarse timestamps.
        since = dt.datetime.fromisoformat(started_at).timestamp() - 2
        plan.masker.sweep([store], since=since)


def _git_sha(repo: Path) -> str | None:
    sha = os.environ.get("CI_COMMIT_SHA")
    if sha:
        return sha
    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_plan(plan: RunPlan, turn: Turn | None = None) -> RunResult:
    """Execute a prepared notebook and write its outputs; never raises for notebook failures.

    With ``turn`` (``execute_sequence``) the kernel starts at once and the cells wait for the
    notebook's turn; the output folder is cleared only then, and the turn passes on as soon as
    the cells are done and swept, before the HTML. Raises ``NotRun`` if a stop came first."""
    from runner.execute import html
    from runner.execute.engine import run_notebook
    from runner.execute.kernels import stop_kernel
    from runner.execute.livelog import LiveLog

    clock: dict[str, Any] = {"start": time.monotonic(), "started_at": _now()}

    def prepare_folder() -> None:
        clear_stale(plan.folder, plan.repo / notebook_stem(plan.notebook))
        plan.folder.mkdir(parents=True, exist_ok=True)

    def on_turn() -> float:
        assert turn is not None
        clock["start"] = turn.wait()
        clock["started_at"] = _now()
        prepare_folder()
        return float(clock["start"])

    try:
        if turn is None:
            prepare_folder()
        if plan.html and threading.current_thread() is threading.main_thread():
            html.warm()  # a fork: from the main thread only (execute_sequence forks it first)
        nb = inject_parameters(plan.nb, plan.kernel_name, plan.language, plan.parameters)
        nb.metadata.papermill.update(input_path=plan.notebook, parameters=plan.shown)
        writer = NotebookWriter(plan.folder / Path(plan.notebook).name, plan.masker,
                                plan.kernel_name, plan.language, plan.shown)
        env = _kernel_env(plan.repo, plan.folder)
    except BaseException:
        if plan.km is not None:  # started by prepare_run: run_notebook never got it
            stop_kernel(plan.km)
        raise
    try:
        outcome = run_notebook(nb, kernel_name=plan.kernel_name, cwd=plan.cwd or plan.repo,
                               env=env, writer=writer, timeout=plan.timeout,
                               cell_timeout=plan.cell_timeout, progress=plan.progress,
                               live=LiveLog(plan.notebook, nb, sys.stderr, plan.masker,
                                            show_output=plan.log_output,
                                            label=plan.label_output),
                               turn=None if turn is None else on_turn, km=plan.km)
        started_at = str(clock["started_at"])
        _sweep(plan, env, writer.path, started_at)
    finally:
        if turn is not None:
            turn.done()
    result = RunResult(notebook=plan.notebook, status=outcome.status, error=outcome.error,
                       duration_s=round(time.monotonic() - float(clock["start"]), 3),
                       device=plan.device, parameters=dict(plan.shown), started_at=started_at,
                       git_sha=_git_sha(plan.repo))
    result = finish_result(result, plan.folder, writer.path.name, plan.masker,
                           content_key=plan.content_key)
    if plan.html and writer.last is not None:
        html_path = plan.folder / f"{writer.path.stem}.html"
        try:
            # writer.last is masked already; masking the page again would rewrite its CSS and
            # scripts wherever a secret is an ordinary word.
            cut_short = outcome.status in ("timeout", "interrupted", "terminated")
            html.render(writer.last, html_path,
                        limit=html.HURRIED_TIMEOUT if cut_short else None)
        except Exception as e:  # the notebook and metrics are already safe on disk
            logger.warning("%s: HTML rendering failed: %s", plan.notebook, e)
        else:
            result.artifacts["html"] = html_path.name
            result.write(plan.folder)
    logger.debug("%s: %s in %.1fs", plan.notebook, result.status, result.duration_s)
    return result


def execute_notebook(notebook: str | Path, options: RunOptions = RunOptions()) -> RunResult:
    """Run one notebook; see the module docstring for what raises and what is returned."""
    return run_plan(prepare_run(notebook, options, early=True))


def describe(result: RunResult) -> str:
    """One line for people: ``success in 2.1s`` or ``failed in 1.0s: In [4] raised ...``
    (the cell as Jupyter numbers it in the saved notebook; its index when it has no number)."""
    text = f"{result.status} in {result.duration_s:.1f}s"
    if result.error is not None:
        where = f"cell {result.error.cell_index}" if result.error.cell_index is not None \
            else "the kernel"
        if result.error.execution_count is not None:
            where = f"In [{result.error.execution_count}]"
        text += f": {where} raised {result.error.ename}: {result.error.evalue}" \
            if result.status == "failed" else f": {where}: {result.error.evalue}"
    return text


def overall_exit_code(results: list[RunResult]) -> ExitCode:
    """The most severe exit code of several runs: 143 > 130 > 4 (kernel died) > 3 (timeout) >
    1 (failed): the highest."""
    return max((exit_code_for(r) for r in results), default=ExitCode.SUCCESS)


def read_detect_file(path: str) -> tuple[list[str], bool, str]:
    """Notebooks, skip flag and reason from ``ds-runner detect --json`` output (``-``: stdin)."""
    import json
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as e:
        raise UsageError(f"--from-detect {path}: cannot read detect output: {e}") from e
    notebooks = data.get("notebooks") if isinstance(data, dict) else None
    if not isinstance(notebooks, list) or not all(isinstance(n, str) for n in notebooks):
        raise UsageError(f"--from-detect {path}: expected ds-runner detect --json output "
                         '({"notebooks": [...], "skip": ..., "reason": ...})')
    return notebooks, bool(data.get("skip", False)), str(data.get("reason", ""))


def execute_sequence(notebooks: list[str], options: RunOptions = RunOptions(), *,
                     on_result: Callable[[RunResult], None] | None = None,
                     jobs: int = 1) -> list[RunResult]:
    """Run several notebooks, continuing after failures; results (and ``on_result``) in the
    order given.

    Every notebook is checked first (``prepare_run``), so a usage error in any of them stops
    the whole sequence before anything runs. Each notebook gets a fresh kernel. With more than
    one, each runs on a thread (``runner.execute.schedule``): ``jobs`` of them run their cells at
    once, in order, while the next one's kernel starts and the finished ones' HTML is rendered.
    After a stop no further notebook starts.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    unique = list(dict.fromkeys(notebooks))
    plans = [prepare_run(notebook, options, early=len(unique) == 1) for notebook in unique]
    if len(plans) == 1:
        result = run_plan(plans[0])
        if on_result is not None:
            on_result(result)
        return [result]
    return _run_concurrently(plans, jobs, on_result)


def _run_concurrently(plans: list[RunPlan], jobs: int,
                      on_result: Callable[[RunResult], None] | None) -> list[RunResult]:
    from runner.execute import html
    from runner.execute.engine import close_thread_loop

    if any(plan.html for plan in plans):
        html.warm()  # fork the HTML worker before any thread exists
    for plan in plans:
        if jobs > 1:  # interleaved output: name the notebook on every line; no progress bars
            plan.label_output, plan.progress = True, False
            # Notebooks running side by side may write to one MLflow store: it is swept once
            # they are all done, not under another notebook's feet.
            plan.sweep_store = False
    sequence_started = _now()
    schedule = Schedule(len(plans), jobs)
    outcomes: dict[int, RunResult | BaseException | None] = {}

    def work(index: int) -> None:
        try:
            outcomes[index] = run_plan(plans[index], Turn(schedule, index))
        except NotRun:
            outcomes[index] = None
        except BaseException as e:  # re-raised on the main thread, the CLI's one exit point
            outcomes[index] = e
        finally:
            close_thread_loop()
            schedule.finish(index)

    # Daemon threads: after a second signal the CLI exits at once instead of joining them;
    # runner.execute.reaper kills their kernels.
    started: list[int] = []
    reported = 0
    results: list[RunResult] = []
    failure: BaseException | None = None

    def report_ready(block: bool) -> None:
        nonlocal reported, failure
        while reported < len(started):
            index = started[reported]
            if index not in schedule.finished:
                if not block:
                    return
                schedule.wait_finished(index)
            reported += 1
            outcome = outcomes.get(index)
            if isinstance(outcome, BaseException):
                failure = failure or outcome
            elif outcome is not None:
                results.append(outcome)
                if on_result is not None:
                    on_result(outcome)

    while (index := schedule.slot()) is not None:
        started.append(index)
        threading.Thread(target=work, args=(index,), name=f"ds-runner-{plans[index].notebook}",
                         daemon=True).start()
        report_ready(block=False)
    report_ready(block=True)
    if failure is not None:
        raise failure
    if jobs > 1:
        from runner.mlflow_env import mlflow_env

        for result in results:
            plan = next(p for p in plans if p.notebook == result.notebook)
            _sweep_store(plan, {**os.environ, **mlflow_env(os.environ, plan.repo)},
                         sequence_started)
    return results
