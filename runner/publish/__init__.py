"""The sinks: where the reports go (the MR comment, the wiki, the release, local files).

:func:`publish` is the one report pipeline. It reads the runs, lets the sink connect and say what
each run is compared with, builds the reports once (``runner.report.runs.build_reports``:
baselines and gate rows) and hands them to the sink, which renders, masks and writes them. Nothing
is printed: what happened comes back as an :class:`Outcome` for the command to print.

A sink is a :class:`Sink`; :data:`SINKS` names each by ``"module:attribute"`` so that only the
sink in use is imported (``ds-runner run`` never imports python-gitlab). A new sink is one module
beside these plus one line in :data:`SINKS` (docs/sinks.md). Beside the sinks, ``collect``
brings a child pipeline's results into the parent job before any sink reads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from runner.errors import RunnerError, UsageError
from runner.report.render import NotebookReport
from runner.report.runs import Compared, Links, LocalRun, build_reports, load_runs


@dataclass
class Outcome:
    """What a publishing call did: the lines to print, in order, the files it wrote, and the
    expected failure it stopped at (the command raises it after printing the lines)."""

    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    error: RunnerError | None = None

    def say(self, line: str) -> None:
        self.lines.append(line)

    @contextmanager
    def stopping(self) -> Iterator[Outcome]:
        """Record a RunnerError raised inside as the outcome's ``error``; the lines stay."""
        try:
            yield self
        except RunnerError as e:
            self.error = e


class Sink(Protocol):
    """One destination of the reports, used once; :func:`publish` calls, in order:"""

    def check(self) -> str:
        """Before any result is read: why there is nothing to publish, or ""."""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        """Connect and read the baselines; False (after saying why in ``out``) when there is
        nothing to publish."""

    def compare(self, run: LocalRun) -> Compared:
        """What ``run`` is compared with."""

    def links(self, run: LocalRun) -> Links:
        """Where the report links ``run``'s figures and artifacts."""

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        """Render, mask and write the reports; say in ``out`` what was written."""


SINKS: dict[str, str] = {
    "comment": "runner.publish.comment:CommentSink",
    "wiki": "runner.publish.wiki:WikiSink",
    "release": "runner.publish.release:ReleaseSink",
    "release-local": "runner.publish.local_release:LocalReleaseSink",
    "files": "runner.publish.files:FilesSink",
}


def get(name: str) -> Callable[..., Sink]:
    """The sink class registered as ``name``, its module imported now."""
    try:
        module, attr = SINKS[name].split(":")
    except KeyError:
        raise UsageError(f"no sink named {name!r} (choose from: "
                         f"{', '.join(sorted(SINKS))})") from None
    factory: Callable[..., Sink] = getattr(importlib.import_module(module), attr)
    return factory


def publish(sink: Sink, runs: Path | Sequence[LocalRun]) -> Outcome:
    """The report pipeline: check, read the runs (every ``metrics.json`` under a results folder,
    or the runs given), open the sink, build the reports once, write them."""
    out = Outcome()
    with out.stopping():
        why = sink.check()
        if why:
            out.say(why)
            return out
        loaded = load_runs(runs) if isinstance(runs, Path) else list(runs)
        if sink.open(loaded, out):
            sink.write(build_reports(loaded, sink.compare, sink.links), out)
    return out
