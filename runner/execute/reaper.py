"""No process that ds-runner starts outlives it, however it ends; and a run that is told to stop
ends on its own terms.

GitLab Runner cancels a job, and ends one that reaches its ``timeout:``, by sending SIGTERM to
the job's process group and SIGKILL after a grace period: the shell executor since
gitlab-org/gitlab-runner!1770 (the 10 s grace was hard-coded by !3906), the Docker and
Kubernetes executors since !4446 and !4443 (gitlab-org/gitlab-runner#27443). So:

- The HTML worker is a fork in our process group. It ignores SIGINT and SIGTERM (we still need
  it to render the stopped run) and dies with us through Linux's parent-death signal.
- jupyter_client starts each kernel in a session of its own, out of reach of the job's signals
  and of a terminal's Ctrl-C. ds-runner kills that session's process group (the kernel and
  the processes it started) when it is done with a kernel, when told to stop, and at exit.
  For SIGKILL, which leaves us no chance to clean up, a guardian process in another session
  holds the list of kernel sessions and kills them when our end of its pipe closes.
- Inside ``graceful_stop()`` (``ds-runner execute``) the first SIGINT or SIGTERM kills the
  kernels and lets the run save the notebook, metrics.json and the HTML; a second one, or one
  outside, stops at once (``runner.errors.Interrupted``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Runs in its own session with `python -I -S -c`: "+PGID" adds a kernel session, "-PGID" drops
# it; when the pipe closes (ds-runner ended, however) it kills the sessions still listed.
_GUARDIAN = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    (groups.add if line[0] == "+" else groups.discard)(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""

# Looked up here: a preexec_fn runs between fork and exec, where little should happen.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_sessions: set[int] = set()  # process groups of the kernels now running
_guardian: subprocess.Popen[str] | None = None
_stop_signal: int | None = None
_graceful = 0
_guardian_lock = threading.Lock()  # kernels start on several threads (runner.execute.schedule)


def die_with_parent(parent: int) -> None:
    """In a child of ``parent``: ask Linux to SIGKILL it when the parent dies (no-op elsewhere).

    Linux sends the signal when the *thread* that forked the child ends, so fork from a thread
    that lives as long as the child is needed (the main thread here)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before we asked
            os._exit(1)


def _tell_guardian(line: str) -> None:
    if not hasattr(os, "killpg"):
        return
    with _guardian_lock:
        _write_guardian(line)


def _write_guardian(line: str) -> None:
    global _guardian
    if _guardian is None:
        _guardian = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _GUARDIAN], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            text=True)
        atexit.register(_close_guardian)
    stdin: IO[str] | None = _guardian.stdin
    try:
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()
    except (OSError, ValueError) as e:  # the guardian is gone; kernels are still killed at exit
        logger.debug("kernel guardian unavailable: %s", e)


def _close_guardian() -> None:
    global _guardian
    kill_kernels()
    if _guardian is not None:
        if _guardian.stdin is not None:
            _guardian.stdin.close()
        try:
            _guardian.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _guardian.kill()
        _guardian = None


def watch_kernel(pgid: int) -> None:
    """A kernel session started: kill it on stop, at exit, and if we are killed."""
    _sessions.add(pgid)
    _tell_guardian(f"+{pgid}")
    if _stop_signal is not None:  # the stop came while the kernel was starting
        kill_session(pgid)


def kill_session(pgid: int) -> None:
    """Kill a kernel's process group: the kernel and what it started in its session."""
    with contextlib.suppress(OSError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


def release_kernel(pgid: int) -> None:
    """A kernel was shut down: kill what it left in its session, and forget it."""
    kill_session(pgid)
    if pgid in _sessions:
        _sessions.discard(pgid)
        _tell_guardian(f"-{pgid}")


def kill_kernels() -> None:
    for pgid in list(_sessions):
        kill_session(pgid)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Within: the first SIGINT/SIGTERM (``request_stop``) ends the run with its outputs saved."""
    global _graceful, _stop_signal
    _graceful += 1
    if _graceful == 1:
        _stop_signal = None
    try:
        yield
    finally:
        _graceful -= 1


def request_stop(signum: int) -> bool:
    """Record a stop and kill the running kernels; False when it must stop at once instead
    (outside ``graceful_stop()``, or a second signal)."""
    global _stop_signal
    if not _graceful or _stop_signal is not None:
        return False
    _stop_signal = signum
    kill_kernels()
    return True


def stop_signal() -> int | None:
    """The signal that asked the current run to stop, if any."""
    return _stop_signal
