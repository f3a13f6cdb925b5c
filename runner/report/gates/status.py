"""``run_status``: the check every run gets, configured or not: a notebook that did not succeed
fails it (a failed run's metrics prove nothing)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.report.gates.base import GateInput, GateResult


@dataclass(frozen=True)
class RunStatus:
    metric: str = "status"
    key: str = "status"

    def evaluate(self, run: GateInput) -> list[GateResult]:
        if run.status == "success":
            return []
        return [GateResult("run_status", self.metric, None, None, False,
                           f"notebook ended with status {run.status}", has_value=False)]
