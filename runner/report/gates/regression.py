"""``gates.no_regression``: ``{metric: auc, tolerance: 0.01}`` against the production release.

The tolerance is relative; the direction comes from ``metrics: {auc: {direction}}``. The gate
passes (and says so) when there is no production baseline yet, or it lacks the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.config import Config
from runner.errors import ConfigError
from runner.report.gates.base import Check, GateInput, GateResult, number


@dataclass(frozen=True)
class NoRegression:
    metric: str
    tolerance: float = 0.0
    key: str = field(default="", compare=False)

    def evaluate(self, run: GateInput) -> list[GateResult]:
        return [self._row(run)]

    def _row(self, run: GateInput) -> GateResult:
        value = run.metrics.get(self.metric)
        if value is None:
            return GateResult("no_regression", self.metric, None, None, False,
                              "metric not recorded by the run")
        if run.baseline is None:
            return GateResult("no_regression", self.metric, value, None, True,
                              "no production baseline yet; gate passes")
        base = run.baseline.get(self.metric)
        if base is None:
            return GateResult("no_regression", self.metric, value, None, True,
                              "production baseline has no value for this metric; gate passes")
        lower = run.directions.get(self.metric, "higher") == "lower"
        slack = abs(base) * self.tolerance
        limit = base + slack if lower else base - slack
        ok = value <= limit if lower else value >= limit
        word = "at most" if lower else "at least"
        detail = (f"{number(value)} vs production {number(base)} ({'lower' if lower else 'higher'}"
                  f" is better, tolerance {self.tolerance:.4g}): needs {word} {number(limit)}")
        return GateResult("no_regression", self.metric, value, limit, ok, detail)


class NoRegressions:
    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]:
        checks = []
        for i, item in enumerate(cfg.get(key, list, [])):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise ConfigError(f"{cfg.source}: '{where}' must be a mapping like "
                                  f"{{metric: auc, tolerance: 0.01}}, got {item!r}")
            extra = set(item) - {"metric", "tolerance"}
            if extra:
                raise ConfigError(f"{cfg.source}: unknown key '{where}.{sorted(extra)[0]}'")
            if "metric" not in item:
                raise ConfigError(f"{cfg.source}: missing required key '{where}.metric'")
            metric = item["metric"]
            if not isinstance(metric, str) or not metric:
                raise ConfigError(f"{cfg.source}: '{where}.metric' must be a string, "
                                  f"got {metric!r}")
            try:
                tolerance = Config(item, cfg.source).get("tolerance", float, 0.0)
            except ConfigError:
                raise ConfigError(f"{cfg.source}: '{where}.tolerance' must be a number, "
                                  f"got {item['tolerance']!r}") from None
            if tolerance < 0:
                raise ConfigError(f"{cfg.source}: '{where}.tolerance' must be >= 0, "
                                  f"got {tolerance:g}")
            checks.append(NoRegression(metric, tolerance, f"{where}.metric"))
        return tuple(checks)
