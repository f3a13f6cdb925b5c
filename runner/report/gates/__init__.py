"""Validation gates: parse ``gates:`` from a notebook's config and evaluate them.

```yaml
gates:
  thresholds:                 # metric: {min: x} and/or {max: y}
    auc: {min: 0.95}
    latency_p95_ms: {max: 20}
  no_regression:              # against the latest production release's metrics
    - {metric: auc, tolerance: 0.01}   # relative; direction from `metrics: {auc: {direction}}`
```

Each key under ``gates:`` is a plug-in in :data:`GATES` (protocols in
``runner.report.gates.base``); a new kind of gate is one module beside these plus one line there.
Every run also gets the ``run_status`` check, and the ``data`` gate (``gates/data.py``) whenever
its config declares ``data_checks:`` or it recorded data checks. A metric the run did not record
fails every gate that names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.config import Config
from runner.errors import ConfigError
from runner.report.gates.base import Check, Gate, GateInput, GateResult
from runner.report.gates.data import DataChecks
from runner.report.gates.data import parse as parse_data
from runner.report.gates.drift import DriftGate
from runner.report.gates.regression import NoRegression, NoRegressions
from runner.report.gates.shadow import ShadowGate
from runner.report.gates.slices import SliceGates
from runner.report.gates.status import RunStatus
from runner.report.gates.threshold import Threshold, Thresholds

GATES: dict[str, Gate] = {"thresholds": Thresholds(), "no_regression": NoRegressions(),
                          "slices": SliceGates(), "drift": DriftGate(),
                          "shadow": ShadowGate()}
RUN_STATUS: Check = RunStatus()


def get(name: str, source: str = "config") -> Gate:
    """The gate configured under ``gates.<name>``; ConfigError naming the key if none."""
    try:
        return GATES[name]
    except KeyError:
        raise ConfigError(f"{source}: unknown key 'gates.{name}' "
                          f"(expected {', '.join(GATES)})") from None


@dataclass(frozen=True)
class Gates:
    """The checks a config asks for, in registry order, and its data gate (no key under
    ``gates:``: ``data_checks:`` switches it on)."""

    checks: tuple[Check, ...] = ()
    data: DataChecks = field(default_factory=DataChecks)

    def __bool__(self) -> bool:
        return bool(self.checks or self.data.datasets)


def parse_gates(data: Mapping[str, Any], source: str = "config") -> Gates:
    """Read ``gates:`` from a config mapping; errors name the offending key."""
    cfg = Config(data, source)
    data_gate = parse_data(cfg)
    if cfg.data.get("gates") is None:
        return Gates(data=data_gate)
    block = cfg.get("gates", dict)
    for name in sorted(block):
        get(name, source)
    return Gates(tuple(check for name, gate in GATES.items() if name in block
                       for check in gate.parse(cfg, f"gates.{name}")), data_gate)


def evaluate(gates: Gates, metrics: Mapping[str, float], directions: Mapping[str, str],
             baseline: Mapping[str, float] | None, status: str = "success", *,
             checks: Mapping[str, Mapping[str, Any]] | None = None,
             slices: Mapping[str, Mapping[str, Any]] | None = None) -> list[GateResult]:
    """Every gate's rows: the run status first (when the run failed), the data checks, then the
    configured gates in config order."""
    run = GateInput(metrics, directions, baseline, status, checks or {}, slices or {})
    return [row for check in (RUN_STATUS, gates.data, *gates.checks)
            for row in check.evaluate(run)]


def failed(rows: list[GateResult]) -> list[GateResult]:
    return [r for r in rows if not r.passed]


__all__ = ["GATES", "Check", "Gate", "GateInput", "GateResult", "Gates", "NoRegression",
           "Threshold", "evaluate", "failed", "get", "parse_gates"]
