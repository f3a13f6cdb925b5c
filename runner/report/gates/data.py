"""The ``data`` gate: every data check a run recorded (``runner.check_data``) is a gate row, and a
data set declared under ``data_checks:`` that the run never checked is a failing row, so a
notebook that forgets its checks is not silently green. Any other check the notebook recorded
itself (``runner.record_check``) is a ``check`` row here too; ``shadow/`` rows belong to the
shadow gate.

It needs no key under ``gates:``: declaring ``data_checks:`` (or recording a check) switches it on.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.config import Config
from runner.monitor.spec import KEY, declared
from runner.report.gates.base import GateInput, GateResult, recorded_row
from runner.report.gates.shadow import PREFIX as SHADOW_PREFIX

PREFIX = "data/"
# Rows in the order the checks run (metrics.json keeps names sorted, not in record order).
ORDER = ("rows", "columns", "nulls", "range", "allowed", "duplicates", "class_ratio")


def _order(name: str) -> tuple[str, int, str]:
    dataset, _, rest = name[len(PREFIX):].partition("/")
    kind = rest.split("/", 1)[0]
    return dataset, ORDER.index(kind) if kind in ORDER else len(ORDER), name


@dataclass(frozen=True)
class DataChecks:
    datasets: tuple[str, ...] = ()   # declared under data_checks:
    metric: str = ""                 # checks no metric the notebook records
    key: str = KEY

    def evaluate(self, run: GateInput) -> list[GateResult]:
        recorded = sorted((name for name in run.checks if name.startswith(PREFIX)), key=_order)
        rows = [recorded_row("data", name, run.checks[name]) for name in recorded]
        for dataset in self.datasets:
            if not any(name.startswith(f"{PREFIX}{dataset}/") for name in recorded):
                rows.append(GateResult(
                    "data", f"{PREFIX}{dataset}", None, None, False,
                    f"data checks declared ({KEY}.{dataset}) but not run: call "
                    f"runner.check_data(df, {dataset!r}, config_path) in the notebook",
                    has_value=False))
        return rows + [recorded_row("check", name, check) for name, check in run.checks.items()
                       if not name.startswith((PREFIX, SHADOW_PREFIX))]


def parse(cfg: Config) -> DataChecks:
    """The data gate of a config: the data sets under ``data_checks:``, validated."""
    return DataChecks(tuple(declared(cfg)))
