"""runner.execute.schedule: notebooks take their turns in order, at most ``jobs`` at once; after
a stop none takes one. Real threads, no kernel."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from runner.execute import reaper
from runner.execute.schedule import NotRun, Schedule

LIMIT = 30  # a safety limit for each wait, never a speed target


def _run_all(schedule: Schedule, count: int, hold: float) -> tuple[list[int], int]:
    """Start every notebook as ``execute_sequence`` does; each holds its turn ``hold`` s."""
    order: list[int] = []
    most = 0
    running = 0
    lock = threading.Lock()

    def work(index: int) -> None:
        nonlocal running, most
        try:
            schedule.wait(index)
            with lock:
                order.append(index)
                running += 1
                most = max(most, running)
            time.sleep(hold)
            with lock:
                running -= 1
            schedule.done(index)
        finally:
            schedule.finish(index)

    threads = []
    while (index := schedule.slot()) is not None:
        threads.append(threading.Thread(target=work, args=(index,), daemon=True))
        threads[-1].start()
    for thread in threads:
        thread.join(LIMIT)
    return order, most


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_turns_come_in_order_and_at_most_jobs_at_once(jobs: int) -> None:
    order, most = _run_all(Schedule(6, jobs), 6, hold=0.05)
    assert order == list(range(6))
    assert most == jobs


def test_kernels_start_at_most_ahead_of_their_turn() -> None:
    schedule = Schedule(10, jobs=1, ahead=2)
    assert [schedule.slot() for _ in range(3)] == [0, 1, 2]
    blocked = threading.Thread(target=schedule.slot, daemon=True)
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # a fourth kernel waits until one notebook is done
    schedule.wait(0)
    schedule.done(0)
    blocked.join(LIMIT)
    assert not blocked.is_alive()


def test_a_notebook_that_ends_without_its_turn_passes_it_on() -> None:
    schedule = Schedule(3, jobs=1)
    for _ in range(3):
        schedule.slot()
    schedule.finish(0)  # e.g. its thread failed before its first cell
    schedule.wait(1)
    schedule.done(1)
    schedule.wait(2)


def test_clock_starts_when_the_turn_could_begin() -> None:
    schedule = Schedule(2, jobs=1)
    schedule.slot(), schedule.slot()
    schedule.wait(0)
    time.sleep(0.2)
    done_at = time.monotonic()
    schedule.done(0)
    time.sleep(0.2)  # notebook 1's kernel is still starting: that counts against its clock
    start = schedule.wait(1)
    assert done_at <= start < done_at + 0.15


def test_after_a_stop_no_notebook_takes_its_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = Schedule(3, jobs=1)
    assert schedule.slot() == 0 and schedule.slot() == 1
    schedule.wait(0)
    monkeypatch.setattr(reaper, "_stop_signal", signal.SIGTERM)
    with pytest.raises(NotRun):
        schedule.wait(1)
    assert schedule.slot() is None
