"""HTML rendering of executed notebooks with nbconvert's ``lab`` template (one self-contained file).

The first rendering in a process is expensive: about 0.65 s of CPU here on top of papermill's
imports (importing nbconvert, compiling Jinja templates, the regular expressions of Pygments'
IPython lexer and of the BeautifulSoup pass). ``warm()`` pays that in a forked worker process
while the kernel starts and runs; ``render()`` then only sends the finished notebook over a pipe
and writes the HTML it gets back (a few tens of milliseconds). Where ``fork`` is unavailable,
or the worker fails, rendering happens in this process.

The worker never outlives us (runner.execute.reaper): it ignores SIGINT and SIGTERM, which reach our
whole process group, so that it can still render a stopped run; it gets Linux's parent-death
signal, and sees its pipe close, when we die; and it is killed at exit.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from runner.masking import Masker

logger = logging.getLogger(__name__)

TEMPLATE = "lab"
_PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8A"
          "AAAASUVORK5CYII=")  # a 1x1 PNG
READY_TIMEOUT = 60.0  # warming up takes about a second; a worker this late is stuck
RENDER_TIMEOUT = 600.0
# After a timeout or a stop the job must end soon: GitLab's grace period between SIGTERM and
# SIGKILL is about 10 s, and `--timeout` promises an end shortly after the deadline. A big
# notebook's HTML takes longer (10,000 cells: about 35 s), so it is skipped then.
HURRIED_TIMEOUT = 3.0
_exporter: Any = None
_worker: tuple[Any, Connection] | None = None
_ready = False
_lock = threading.Lock()  # one worker, one pipe: notebooks on several threads take turns


def _to_html(nb: Any) -> str:
    global _exporter
    if _exporter is None:
        import nbconvert

        converters: Any = nbconvert
        from runner.execute.engine import DebugOnly

        # nbconvert warns about every figure without alt text: noise in a CI log.
        _exporter = converters.HTMLExporter(template_name=TEMPLATE, log=DebugOnly(logger, {}))
    body, _ = _exporter.from_notebook_node(nb)
    return str(body)


def _sample() -> Any:
    """A notebook with one output of each common kind, so their templates get compiled."""
    import nbformat

    v4: Any = nbformat.v4
    cell = v4.new_code_cell("print(1)")
    cell.outputs = [
        v4.new_output("stream", name="stdout", text="1\n"),
        v4.new_output("execute_result", data={"text/plain": "1", "text/html": "<b>1</b>"},
                      execution_count=1),
        v4.new_output("display_data", data={"image/png": _PIXEL, "text/plain": "<Figure>"}),
        v4.new_output("error", ename="E", evalue="e", traceback=["\x1b[31mE\x1b[0m"]),
    ]
    return v4.new_notebook(cells=[v4.new_markdown_cell("# Title\n*text* `code` $x$"), cell])


def _serve(conn: Connection, other_end: Connection, parent: int) -> None:
    """Worker loop: warm up, then turn notebook JSON into HTML until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from runner.execute.reaper import die_with_parent

    die_with_parent(parent)
    other_end.close()  # so that recv() sees EOF once the parent is gone
    import nbformat

    nbf: Any = nbformat
    _to_html(_sample())
    conn.send(("ready", ""))
    while True:
        try:
            text = conn.recv()
        except EOFError:
            return
        if text is None:
            return
        try:
            conn.send(("ok", _to_html(nbf.reads(text, as_version=4))))
        except Exception as e:  # reported to the parent, which logs it
            conn.send(("error", f"{type(e).__name__}: {e}"))


def warm() -> None:
    """Start the rendering worker (idempotent); it warms up while the notebook runs."""
    global _worker
    if _worker is not None or "fork" not in multiprocessing.get_all_start_methods():
        return
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, parent, os.getpid()),
                              name="ds-runner-html", daemon=True)
    process.start()
    child.close()
    _worker = (process, parent)
    atexit.unregister(stop)
    atexit.register(stop)


def stop() -> None:
    """End the worker (it ignores SIGTERM, so multiprocessing's own clean-up at exit would
    wait for it forever)."""
    global _worker, _ready
    if _worker is None:
        return
    process, conn = _worker
    _worker, _ready = None, False
    conn.close()
    process.kill()
    process.join(timeout=5)


def _reply(conn: Connection, timeout: float) -> tuple[str, str]:
    if not conn.poll(timeout):
        raise TimeoutError(f"no answer in {timeout:g}s")
    status, payload = conn.recv()
    return str(status), str(payload)


def _render_in_worker(nb: Any, limit: float | None) -> str | None:
    """The HTML from the worker; None when there is none or it failed (then render here).
    With ``limit`` (seconds in all), a worker that takes longer raises TimeoutError."""
    global _worker, _ready
    if _worker is None:
        return None
    import nbformat

    nbf: Any = nbformat
    process, conn = _worker
    deadline = time.monotonic() + (limit or RENDER_TIMEOUT + READY_TIMEOUT)
    try:
        if not _ready:
            _reply(conn, min(READY_TIMEOUT, deadline - time.monotonic()))
            _ready = True
        conn.send(nbf.writes(nb))
        status, payload = _reply(conn, min(RENDER_TIMEOUT, deadline - time.monotonic()))
    except (EOFError, OSError, TimeoutError) as e:
        process.kill()
        process.join(timeout=5)
        _worker, _ready = None, False
        if limit is not None and isinstance(e, TimeoutError):
            raise TimeoutError(f"skipped: the HTML took more than {limit:g}s to render after "
                               "the run was cut short") from None
        logger.debug("HTML worker failed (%s); rendering in process", e)
        return None
    if status != "ok":
        raise RuntimeError(payload)
    return payload


def render(nb: Any, dest: Path, masker: Masker | None = None,
           limit: float | None = None) -> Path:
    """Write ``nb`` (an nbformat node) as HTML to ``dest``, masking secrets once more.
    ``limit``: seconds the worker may take (``HURRIED_TIMEOUT`` once a run was cut short)."""
    with _lock:
        body = _render_in_worker(nb, limit)
        if body is None:
            body = _to_html(nb)
    text = masker.mask(body) if masker else body
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(dest)
    return dest
