"""``gates.slices``: limits on a metric recorded per slice (``runner.record_slices``).

```yaml
gates:
  slices:
    auc: {worst_min: 0.9, max_gap: 0.08}    # worst slice >= 0.9; best - worst <= 0.08
    logloss: {worst_max: 0.4}               # lower is better: the worst slice is the highest
```

The direction comes from ``metrics: {name: {direction}}``, so ``worst_min`` fits metrics where
higher is better and ``worst_max`` those where lower is; the other is a config error. Slices the
notebook skipped (too few rows, metric undefined) are named in the row but not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.config import Config, metric_directions
from runner.errors import ConfigError
from runner.report.gates.base import Check, GateInput, GateResult, number

LIMITS = ("worst_min", "worst_max", "max_gap")


@dataclass(frozen=True)
class Sliced:
    """What a run recorded for one metric per slice, read defensively from ``metrics.json``."""

    by: str
    values: dict[str, float]
    counts: dict[str, int]
    skipped: dict[str, str]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Sliced:
        return cls(str(data.get("by") or "slice"),
                   {str(k): float(v) for k, v in (data.get("values") or {}).items()},
                   {str(k): int(v) for k, v in (data.get("counts") or {}).items()},
                   {str(k): str(v) for k, v in (data.get("skipped") or {}).items()})

    def worst_and_best(self, lower: bool) -> tuple[str, str]:
        ranked = sorted(self.values, key=self.values.__getitem__, reverse=lower)
        return ranked[0], ranked[-1]

    def rows_of(self, name: str) -> str:
        n = self.counts.get(name)
        return f" ({n} rows)" if n is not None else ""

    def skipped_note(self) -> str:
        if not self.skipped:
            return ""
        items = "; ".join(f"`{k}`: {v}" for k, v in self.skipped.items())
        return f"; skipped {items}"


@dataclass(frozen=True)
class SliceLimit:
    metric: str
    worst_min: float | None = None
    worst_max: float | None = None
    max_gap: float | None = None
    key: str = field(default="", compare=False)

    def _limits(self) -> list[tuple[str, float]]:
        return [(gate, limit) for gate, limit in (("worst_slice", self.worst_min),
                                                  ("worst_slice", self.worst_max),
                                                  ("slice_gap", self.max_gap))
                if limit is not None]

    def evaluate(self, run: GateInput) -> list[GateResult]:
        recorded = run.slices.get(self.metric)
        if recorded is None:
            return [GateResult(gate, self.metric, None, limit, False,
                               "metric not recorded per slice by the run "
                               "(runner.record_slices)") for gate, limit in self._limits()]
        sliced = Sliced.of(recorded)
        if not sliced.values:
            why = sliced.skipped_note().removeprefix("; ") or "no slices recorded"
            return [GateResult(gate, self.metric, None, limit, False,
                               f"no slice of {sliced.by} was scored: {why}")
                    for gate, limit in self._limits()]
        lower = run.directions.get(self.metric, "higher") == "lower"
        worst, best = sliced.worst_and_best(lower)
        rows = []
        if self.worst_min is not None or self.worst_max is not None:
            rows.append(self._worst(sliced, worst))
        if self.max_gap is not None:
            rows.append(self._gap(sliced, worst, best, self.max_gap))
        return rows

    def _worst(self, sliced: Sliced, worst: str) -> GateResult:
        value = sliced.values[worst]
        if self.worst_min is not None:
            limit, ok = self.worst_min, value >= self.worst_min
            sign = ">=" if ok else "<"
        else:
            assert self.worst_max is not None
            limit, ok = self.worst_max, value <= self.worst_max
            sign = "<=" if ok else ">"
        detail = (f"worst {sliced.by} `{worst}`{sliced.rows_of(worst)}: {self.metric} "
                  f"{number(value)} {sign} {number(limit)}{sliced.skipped_note()}")
        return GateResult("worst_slice", self.metric, value, limit, ok, detail)

    def _gap(self, sliced: Sliced, worst: str, best: str, limit: float) -> GateResult:
        gap = abs(sliced.values[best] - sliced.values[worst])
        ok = gap <= limit
        detail = (f"{self.metric} gap between best {sliced.by} `{best}` "
                  f"{number(sliced.values[best])} and worst `{worst}` "
                  f"{number(sliced.values[worst])}: {number(gap)} {'<=' if ok else '>'} "
                  f"{number(limit)}{sliced.skipped_note()}")
        return GateResult("slice_gap", self.metric, gap, limit, ok, detail)


class SliceGates:
    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]:
        directions = metric_directions(cfg.data, cfg.source)
        checks = []
        for metric in cfg.get(key, dict, {}):
            where = f"{key}.{metric}"
            limits = cfg.get(where, dict)
            extra = sorted(set(limits) - set(LIMITS))
            if extra or not limits:
                bad = f".{extra[0]}" if extra else ""
                raise ConfigError(f"{cfg.source}: '{where}{bad}' must be a mapping with "
                                  f"{', '.join(LIMITS[:-1])} and/or {LIMITS[-1]}")
            got = {name: cfg.get(f"{where}.{name}", float) for name in LIMITS if name in limits}
            lower = directions.get(str(metric), "higher") == "lower"
            wrong = "worst_min" if lower else "worst_max"
            if wrong in got:
                right = "worst_max" if lower else "worst_min"
                raise ConfigError(
                    f"{cfg.source}: '{where}.{wrong}' does not fit {metric}, where "
                    f"{'lower' if lower else 'higher'} is better (metrics.{metric}.direction): "
                    f"its worst slice is the {'highest' if lower else 'lowest'}; use {right}")
            if got.get("max_gap", 0.0) < 0:
                raise ConfigError(f"{cfg.source}: '{where}.max_gap' must be >= 0, "
                                  f"got {got['max_gap']:g}")
            checks.append(SliceLimit(str(metric), got.get("worst_min"), got.get("worst_max"),
                                     got.get("max_gap"), where))
        return tuple(checks)
