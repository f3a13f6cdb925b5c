"""What every validation gate shares: the run it checks, the table row it gives, the protocols.

A *gate* is a kind of check named by a key under ``gates:`` in a notebook's config (``thresholds``,
``no_regression``); it parses that block into *checks*, and each check turns a run into rows of
the gate table. The registry of gates is ``runner.report.gates.GATES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.config import Config


@dataclass(frozen=True)
class GateInput:
    """What a check looks at: the run's metrics, status, recorded checks and slices
    (``runner.metrics.Recorded``), and the production baseline."""

    metrics: Mapping[str, float]
    directions: Mapping[str, str]           # metric -> "higher" | "lower"
    baseline: Mapping[str, float] | None    # None: no production release yet
    status: str = "success"
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    slices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """One row of the gate table."""

    gate: str            # "min", "max", "no_regression", "run_status", ...
    metric: str
    value: float | None  # None: the run did not record the metric
    limit: float | None  # None: nothing to compare against (no baseline yet)
    passed: bool
    detail: str
    has_value: bool = True   # False: the gate compares no number (the value column is empty)


class Check(Protocol):
    """One parsed gate entry, e.g. ``auc: {min: 0.95}``."""

    @property
    def metric(self) -> str: ...

    @property
    def key(self) -> str: ...        # the config key that names the metric, for error messages

    def evaluate(self, run: GateInput) -> list[GateResult]: ...


class Gate(Protocol):
    """A kind of gate: reads its block under ``gates:`` (``key`` is e.g. ``gates.thresholds``)."""

    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]: ...


def recorded_row(gate: str, name: str, check: Mapping[str, Any]) -> GateResult:
    """The gate row of a check the notebook or a command recorded (``runner.metrics.record_check``:
    passed, value, limit, detail)."""
    value, limit = check.get("value"), check.get("limit")
    return GateResult(gate, name, None if value is None else float(value),
                      None if limit is None else float(limit), bool(check.get("passed")),
                      str(check.get("detail") or ""), has_value=value is not None)


def number(value: float) -> str:
    return f"{value:.6g}"
