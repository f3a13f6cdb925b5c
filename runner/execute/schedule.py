"""Turns for several notebooks in one ``ds-runner execute``: each runs on a thread of its own, so
that the next notebook's kernel starts while the current one runs its cells and the finished
one's HTML is rendered meanwhile.

At most ``jobs`` notebooks run their cells at once, and they start them in the order given (with
``jobs`` 1 the job log reads as if they ran one after another). ``slot()`` lets the caller start
``ahead`` notebooks more than that, whose kernels start while they wait for their turn. A
notebook's clock (``--timeout``, its duration) starts when its turn could begin, not when its
kernel was started ahead of it. After a stop (``runner.execute.reaper``) no notebook takes a
turn any more: ``wait()`` raises ``NotRun``.
"""

from __future__ import annotations

import threading
import time

from runner.execute import reaper

AHEAD = 2  # kernels started ahead of their turn (5 trivial notebooks, 2 cores: 1 was slower)
POLL = 0.1  # seconds: a signal handler cannot notify a condition, so waits look at the stop


class NotRun(Exception):
    """A stop came before this notebook's turn: it has no result."""


class Schedule:
    def __init__(self, count: int, jobs: int, ahead: int = AHEAD) -> None:
        self.jobs = max(1, jobs)
        self.ahead = ahead
        self.count = count
        self.cond = threading.Condition()
        self.running: set[int] = set()
        self.over: set[int] = set()  # cells done, or never to run
        self.finished: set[int] = set()  # its thread ended
        self.started = 0  # threads handed out by slot()
        self.eligible: dict[int, float] = {}
        with self.cond:
            self._update()

    def _next(self) -> int:
        index = 0
        while index in self.running or index in self.over:
            index += 1
        return index

    def _update(self) -> None:
        """Record when the next notebook could start its cells, and wake the waiters."""
        index = self._next()
        if index < self.count and len(self.running) < self.jobs:
            self.eligible.setdefault(index, time.monotonic())
        self.cond.notify_all()

    def slot(self) -> int | None:
        """Block until one more notebook may start (its kernel); its index, or None when all
        have started or a stop came."""
        with self.cond:
            while self.started - len(self.over) >= self.jobs + self.ahead:
                if reaper.stop_signal() is not None:
                    return None
                self.cond.wait(POLL)
            if self.started >= self.count or reaper.stop_signal() is not None:
                return None
            self.started += 1
            return self.started - 1

    def wait(self, index: int) -> float:
        """Block until notebook ``index`` may run its cells; the monotonic time its clock starts."""
        with self.cond:
            while not (self._next() == index and len(self.running) < self.jobs):
                if reaper.stop_signal() is not None:
                    break
                self.cond.wait(POLL)
            if reaper.stop_signal() is not None:
                self.over.add(index)
                self._update()
                raise NotRun(index)
            self.running.add(index)
            self._update()
            return self.eligible.get(index, time.monotonic())

    def done(self, index: int) -> None:
        """Notebook ``index`` ran its cells (or never will): the next one may start its own."""
        with self.cond:
            self.running.discard(index)
            self.over.add(index)
            self._update()

    def finish(self, index: int) -> None:
        """Notebook ``index``'s thread ended (its result is ready)."""
        with self.cond:
            self.running.discard(index)
            self.over.add(index)
            self.finished.add(index)
            self._update()

    def wait_finished(self, index: int) -> None:
        with self.cond:
            while index not in self.finished:
                self.cond.wait(POLL)


class Turn:
    """One notebook's view of the schedule (what ``runner.execute.notebook.run_plan`` gets)."""

    def __init__(self, schedule: Schedule, index: int) -> None:
        self.schedule, self.index = schedule, index

    def wait(self) -> float:
        return self.schedule.wait(self.index)

    def done(self) -> None:
        self.schedule.done(self.index)
