"""``gates.thresholds``: ``metric: {min: x}`` and/or ``{max: y}``."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.config import Config
from runner.errors import ConfigError
from runner.report.gates.base import Check, GateInput, GateResult, number


@dataclass(frozen=True)
class Threshold:
    metric: str
    minimum: float | None = None
    maximum: float | None = None
    key: str = field(default="", compare=False)

    def evaluate(self, run: GateInput) -> list[GateResult]:
        rows = []
        value = run.metrics.get(self.metric)
        for kind, limit in (("min", self.minimum), ("max", self.maximum)):
            if limit is None:
                continue
            if value is None:
                rows.append(GateResult(kind, self.metric, None, limit, False,
                                       "metric not recorded by the run"))
                continue
            ok = value >= limit if kind == "min" else value <= limit
            sign = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
            rows.append(GateResult(kind, self.metric, value, limit, ok,
                                   f"{number(value)} {sign} {kind} {number(limit)}"))
        return rows


class Thresholds:
    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]:
        checks = []
        for metric in cfg.get(key, dict, {}):
            where = f"{key}.{metric}"
            limits = cfg.get(where, dict)
            extra = set(limits) - {"min", "max"}
            if extra or not limits:
                bad = sorted(extra)[0] if extra else ""
                raise ConfigError(f"{cfg.source}: '{where}{'.' + bad if bad else ''}' must be "
                                  "a mapping with 'min' and/or 'max'")
            lo = cfg.get(f"{where}.min", float) if "min" in limits else None
            hi = cfg.get(f"{where}.max", float) if "max" in limits else None
            if lo is not None and hi is not None and lo > hi:
                raise ConfigError(f"{cfg.source}: '{where}' has min {lo:g} above max {hi:g}")
            checks.append(Threshold(str(metric), lo, hi, where))
        return tuple(checks)
