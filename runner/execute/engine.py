"""One notebook on one kernel: papermill's execution manager and notebook client, composed the way
``papermill.execute_notebook`` composes them, with these changes:

- every save goes through ``writer`` (ds-runner masks secrets there), never papermill's own I/O,
  and at most one a second (at most a tenth of the time for a big notebook) plus a final one:
  papermill saves the whole notebook around every cell, which costs O(cells**2);
- a whole-notebook deadline besides the per-cell timeout (nbclient's ``timeout_func``), also
  checked before each cell, so that many short cells cannot run past it;
- the kernel's session never outlives us (``runner.execute.kernels.bound_kernel_manager``), and a
  SIGINT/SIGTERM that ``runner.execute.reaper`` turned into a stop ends the run with a marker cell;
- the kernel gets its own environment and working directory instead of our process's;
- the kernel is shut down immediately once the cells are done: a graceful shutdown sometimes
  stalls for seconds and buys nothing after the last cell;
- with ``turn`` (several notebooks, ``runner.execute.schedule``) the kernel starts ahead of the
  notebook's turn: the first cell waits for it, and the notebook is saved and its clock started
  only then;
- with ``km`` (one notebook) the kernel was started before papermill was imported
  (``runner.execute.kernels.start_kernel``): nbclient connects to it, and it is shut down here
  like one nbclient started, even when no cell runs.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.execute import reaper
from runner.execute.livelog import LiveLog
from runner.execute.parameters import ERROR_CELL_TAG
from runner.metrics import CellError

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT = 60.0
SAVE_EVERY = 1.0  # seconds between saves during the run, at least
SAVE_SHARE = 0.1  # and saving takes at most this share of the run
STOPPED: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_WHY: dict[int, str] = {signal.SIGINT: "Ctrl-C",
                        signal.SIGTERM: "the CI job was cancelled or timed out"}


@dataclass
class Outcome:
    status: str  # success | failed | timeout | kernel_died | interrupted | terminated
    error: CellError | None = None
    message: str = ""


class DebugOnly(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A library's log demoted to DEBUG, e.g. nbclient's: ds-runner reports timeouts and dead
    kernels itself, in one line."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(min(level, logging.DEBUG), msg, *args, **kwargs)


class _Limits:
    """Per-cell and whole-notebook time limits, expressed as nbclient's per-cell timeout."""

    def __init__(self, timeout: float | None, cell_timeout: float | None) -> None:
        self.timeout, self.cell_timeout = timeout or None, cell_timeout or None
        self.deadline = time.monotonic() + self.timeout if self.timeout else None
        self.binding = "cell"

    def for_cell(self, cell: Any) -> float | None:
        limit, self.binding = self.cell_timeout, "cell"
        if self.deadline is not None:
            remaining = max(self.deadline - time.monotonic(), 0.05)  # 0 would mean "no limit"
            if limit is None or remaining < limit:
                limit, self.binding = remaining, "notebook"
        return limit

    def restart(self, start: float) -> None:
        """The notebook's clock starts at ``start`` (its turn), not when its kernel started."""
        self.deadline = start + self.timeout if self.timeout else None

    def check(self) -> None:
        """Before a cell: past the notebook's deadline, stop (a short cell never times out)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            from nbclient.exceptions import CellTimeoutError

            self.binding = "notebook"
            raise CellTimeoutError("the notebook's deadline passed between cells")

    def describe(self, error: Exception) -> str:
        if self.binding == "notebook" and self.timeout:
            return f"the notebook ran past its timeout of {self.timeout:g}s"
        if self.cell_timeout and "IOPub" not in str(error):
            return f"the cell ran past the cell timeout of {self.cell_timeout:g}s"
        return str(error).splitlines()[0] if str(error) else type(error).__name__


def import_papermill() -> None:
    """Import papermill without pyarrow: papermill.iorw imports it, when installed (MLflow
    depends on it), only to offer ``hdfs://`` paths, and that costs ~0.14 s of CPU (numpy
    included) before the kernel can start. ds-runner reads and writes local files only, and
    never imports pyarrow itself; the kernel is another process and imports what it likes."""
    import sys

    if "papermill" in sys.modules or "pyarrow" in sys.modules:
        return
    modules: dict[str, Any] = sys.modules
    blocked = ("pyarrow", "pyarrow.fs")
    modules.update(dict.fromkeys(blocked))  # None: "import pyarrow" raises ImportError
    try:
        import papermill  # noqa: F401
    finally:
        for name in blocked:
            if modules.get(name, 0) is None:
                del modules[name]


def close_thread_loop() -> None:
    """End this thread's event loop (jupyter_core makes one per thread for nbclient): cancel
    what nbclient left pending, so that no "Task was destroyed but it is pending!" reaches the
    log when the loop is collected after the thread ends."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop()
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=5))
    loop.close()


def _manager_class() -> type:
    from papermill.engines import NotebookExecutionManager

    class Manager(NotebookExecutionManager):  # type: ignore[misc]
        def __init__(self, nb: Any, writer: Callable[[Any], None], progress: bool,
                     limits: _Limits, live: LiveLog | None = None,
                     turn: Callable[[], float] | None = None) -> None:
            super().__init__(nb, output_path=None, progress_bar=progress)
            self.turn = turn
            self.turned: bool | None = None  # None: not yet; False: a stop came first
            self.writer = writer
            self.limits = limits
            self.live = live
            self.current_index: int | None = None
            self.exception: Exception | None = None  # nbclient's, for the failing cell
            self.failed_cell: Any = None
            self.next_save = 0.0

        def save(self, **kwargs: Any) -> None:
            if kwargs.get("nb") is not None:
                self.nb = kwargs["nb"]
            started = time.monotonic()
            if started < self.next_save:
                return
            self.writer(self.nb)
            took = time.monotonic() - started
            self.next_save = started + max(SAVE_EVERY, took / SAVE_SHARE)
            self.last_save_time = self.now()

        def take_turn(self) -> bool:
            """Once: wait for the notebook's turn, then start its clock and save it. False
            when a stop came first (``runner.execute.schedule.NotRun``)."""
            from runner.execute.schedule import NotRun

            if self.turned is None:
                self.turned = False
                if self.turn is not None:
                    try:
                        start = self.turn()
                    except NotRun:
                        return False
                    self.limits.restart(start)
                    if self.live is not None:
                        self.live.start = start
                self.turned = True
                self.notebook_start()
            return self.turned

        def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            if not self.take_turn():
                from runner.execute.schedule import NotRun

                raise NotRun("a stop came before this notebook's turn")
            self.current_index = cell_index
            self.limits.check()
            super().cell_start(cell, cell_index, **kwargs)
            if self.live is not None:
                self.live.cell_start(cell)

        def cell_exception(self, cell: Any, cell_index: int | None = None,
                           **kwargs: Any) -> None:
            self.exception, self.failed_cell = kwargs.get("exception"), cell
            super().cell_exception(cell, cell_index, **kwargs)

        def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
            # not when it never started, or the notebook never got its turn
            if self.turned and cell.metadata.papermill.get("status") != self.PENDING:
                super().cell_complete(cell, cell_index, **kwargs)

        def notebook_complete(self, **kwargs: Any) -> None:
            self.next_save = math.inf  # run_notebook saves once at the end, whatever happened
            super().notebook_complete(**kwargs)

    return Manager


def _mark_stop(nb: Any, index: int | None, text: str) -> None:
    """Explain in the notebook itself where and why it stopped (like papermill's error cells)."""
    import nbformat

    v4: Any = nbformat.v4

    def marker(source: str) -> Any:
        cell = v4.new_markdown_cell(source)
        cell.metadata["tags"] = [ERROR_CELL_TAG]
        return cell

    style = 'style="color:red; font-size:1.5em;"'
    link = ""
    if index is not None:
        nb.cells.insert(index, marker(f'<span id="ds-runner-stop" {style}>'
                                      f"ds-runner stopped the notebook here: {text}</span>"))
        link = f' (<a href="#ds-runner-stop">cell {index}</a>)'
    nb.cells.insert(0, marker(f"<span {style}>ds-runner stopped this notebook: {text}{link}"
                              "</span>"))


def _stopped(signum: int, index: int | None) -> Outcome:
    name = signal.Signals(signum).name
    text = f"ds-runner got {name} ({_WHY.get(signum, 'a stop signal')}) and stopped the kernel"
    where = f"cell {index}" if index is not None else "before the first cell"
    return Outcome(STOPPED.get(signum, "terminated"), CellError(index, name, text),
                   f"{where}: {text}")


def run_notebook(nb: Any, *, kernel_name: str, cwd: Path, env: Mapping[str, str],
                 writer: Callable[[Any], None], timeout: float | None = None,
                 cell_timeout: float | None = None, progress: bool = False,
                 live: LiveLog | None = None, turn: Callable[[], float] | None = None,
                 km: Any = None) -> Outcome:
    """Execute ``nb`` in place; always leaves the (partial) notebook saved through ``writer``.
    ``live`` shows the cells, their output and a failing cell's traceback in the job log.
    ``turn`` blocks until the notebook may run its cells and returns when its clock starts; it
    raises ``runner.execute.schedule.NotRun`` (which this raises too) when a stop came first.
    ``km``: the manager of a kernel started already (``kernels.start_kernel``, on this thread),
    whose ``kernel_name``, ``cwd`` and ``env`` it was started with; this shuts it down."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors

    from runner.execute.kernels import bound_kernel_manager, encryption, stop_kernel

    limits = _Limits(timeout, cell_timeout)
    manager = _manager_class()(nb, writer, progress, limits, live, turn)
    echo = {"stdout_file": live.stdout, "stderr_file": live.stderr} \
        if live is not None and live.show_output else {}
    if turn is None:
        manager.take_turn()
    outcome = Outcome("success")
    completed = False
    try:
        if reaper.stop_signal() is None:
            # nbclient shuts down a kernel it did not start only when told (cleanup_kc)
            ours = {"cleanup_kc": True} if km is not None else {}
            client = PapermillNotebookClient(
                manager, km=km, kernel_name=kernel_name, timeout=None, timeout_func=limits.for_cell,
                startup_timeout=min(STARTUP_TIMEOUT, limits.timeout or STARTUP_TIMEOUT),
                shutdown_kernel="immediate", log=DebugOnly(logger, {}),
                kernel_manager_class=bound_kernel_manager(), **echo)
            client.execute(env=dict(env), cwd=str(cwd), transport_encryption=encryption(),
                           **ours)
            completed = True
    except CellTimeoutError as e:
        index, text = manager.current_index, limits.describe(e)
        outcome = Outcome("timeout", CellError(index, "Timeout", text),
                          f"cell {index} timed out: {text}")
    except DeadKernelError as e:
        index = manager.current_index
        text = "the kernel died (killed, e.g. for memory, or crashed)"
        logger.debug("dead kernel: %s", e)
        outcome = Outcome("kernel_died", CellError(index, "DeadKernelError", text),
                          f"cell {index}: {text}")
    except (RuntimeError, OSError) as e:  # the kernel never became ready or could not start
        if manager.current_index is not None and reaper.stop_signal() is None:
            if manager.take_turn():
                writer(nb)
            raise
        late = limits.deadline is not None and time.monotonic() >= limits.deadline
        outcome = Outcome("timeout" if late else "kernel_died",
                          CellError(None, type(e).__name__, str(e)),
                          f"the kernel did not start: {e}")
    finally:
        if km is not None:  # a stop came before the client, or nbclient left it running
            stop_kernel(km)
        # A kernel that failed before the first cell still waits for its turn, in order.
        if manager.take_turn():
            manager.cleanup_pbar()
            manager.notebook_complete()
            if live is not None:
                live.close_output()
    if not manager.turned:
        from runner.execute.schedule import NotRun

        raise NotRun("a stop came before this notebook's turn")

    stop = reaper.stop_signal()
    if stop is not None and not completed:  # the kernel was killed on purpose
        outcome = _stopped(stop, manager.current_index)
    if outcome.status != "success":
        _mark_stop(nb, outcome.error.cell_index if outcome.error else None, outcome.message)
        writer(nb)
        return outcome
    try:
        raise_for_execution_errors(nb, None)  # adds papermill's error cells in place
    except PapermillExecutionError as e:
        writer(nb)
        # papermill has inserted its error cells: e.cell_index is no longer the cell's place
        cell = manager.failed_cell or {"source": e.source}
        ename, evalue = _failure(e, manager.exception, cell)
        if live is not None:
            live.cell_failed(cell, e.exec_count, ename, evalue, e.traceback or [])
        return Outcome("failed", CellError(e.cell_index, ename, evalue, e.exec_count),
                       f"cell {e.cell_index} (In [{e.exec_count}]) raised {ename}: {evalue}")
    writer(nb)
    return outcome


def _failure(error: Any, exception: Exception | None, cell: Any) -> tuple[str, str]:
    """The exception's name and message, never empty. A cell that fails without an error
    output (IPython reports a UsageError for an unknown magic on stderr) leaves papermill with
    ``CellExecutionError`` and no message: the message is then nbclient's ``UsageError: ...``,
    else the cell's last stderr line. The name stays: the runner's own UsageError, raised in a
    cell, means the notebook rejected its config (exit 2); this is a notebook bug (exit 1)."""
    if error.evalue:
        return str(error.ename), str(error.evalue)
    ename, evalue = getattr(exception, "ename", ""), getattr(exception, "evalue", "")
    if ename and evalue:
        return str(error.ename), f"{ename}: {evalue}"
    stderr = "".join(o.get("text", "") for o in cell.get("outputs", [])
                     if o.get("output_type") == "stream" and o.get("name") == "stderr")
    last = stderr.strip().splitlines()[-1:] or ["the cell failed without an error message"]
    return str(error.ename), last[0]
