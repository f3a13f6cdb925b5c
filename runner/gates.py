"""Validation gates: parse ``gates:`` from a notebook's config and evaluate them.

```yaml
gates:
  thresholds:                 # metric: {min: x} and/or {max: y}
    auc: {min: 0.95}
    latency_p95_ms: {max: 20}
  no_regression:              # against the latest production release's metrics
    - {metric: auc, tolerance: 0.01}   # relative; direction from `metrics: {auc: {direction}}`
```

A metric the run did not record fails every gate that names it. A ``no_regression`` gate passes
(and says so) when there is no production baseline yet, or the baseline lacks that metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.config import Config
from runner.errors import ConfigError


@dataclass(frozen=True)
class Threshold:
    metric: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class NoRegression:
    metric: str
    tolerance: float = 0.0


@dataclass(frozen=True)
class Gates:
    thresholds: tuple[Threshold, ...] = ()
    no_regression: tuple[NoRegression, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.thresholds or self.no_regression)


@dataclass(frozen=True)
class GateResult:
    """One row of the gate table."""

    gate: str            # "min", "max" or "no_regression"
    metric: str
    value: float | None  # None: the run did not record the metric
    limit: float | None  # None: nothing to compare against (no baseline yet)
    passed: bool
    detail: str


def _number(cfg: Config, key: str) -> float:
    return cfg.get(key, float)


def parse_gates(data: Mapping[str, Any], source: str = "config") -> Gates:
    """Read ``gates:`` from a config mapping; errors name the offending key."""
    cfg = Config(data, source)
    if "gates" not in cfg.data or cfg.data["gates"] is None:
        return Gates()
    cfg.get("gates", dict)
    unknown = set(cfg.data["gates"]) - {"thresholds", "no_regression"}
    if unknown:
        raise ConfigError(f"{source}: unknown key 'gates.{sorted(unknown)[0]}' "
                          "(expected thresholds, no_regression)")
    thresholds: list[Threshold] = []
    for metric in cfg.get("gates.thresholds", dict, {}):
        key = f"gates.thresholds.{metric}"
        limits = cfg.get(key, dict)
        extra = set(limits) - {"min", "max"}
        if extra or not limits:
            bad = sorted(extra)[0] if extra else ""
            raise ConfigError(f"{source}: '{key}{'.' + bad if bad else ''}' must be "
                              "a mapping with 'min' and/or 'max'")
        lo = _number(cfg, f"{key}.min") if "min" in limits else None
        hi = _number(cfg, f"{key}.max") if "max" in limits else None
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"{source}: '{key}' has min {lo:g} above max {hi:g}")
        thresholds.append(Threshold(str(metric), lo, hi))
    regressions: list[NoRegression] = []
    items = cfg.get("gates.no_regression", list, [])
    for i, item in enumerate(items):
        key = f"gates.no_regression[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping like "
                              f"{{metric: auc, tolerance: 0.01}}, got {item!r}")
        entry = Config(item, source)
        extra = set(item) - {"metric", "tolerance"}
        if extra:
            raise ConfigError(f"{source}: unknown key '{key}.{sorted(extra)[0]}'")
        if "metric" not in item:
            raise ConfigError(f"{source}: missing required key '{key}.metric'")
        metric = item["metric"]
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{source}: '{key}.metric' must be a string, got {metric!r}")
        try:
            tolerance = entry.get("tolerance", float, 0.0)
        except ConfigError:
            raise ConfigError(f"{source}: '{key}.tolerance' must be a number, "
                              f"got {item['tolerance']!r}") from None
        if tolerance < 0:
            raise ConfigError(f"{source}: '{key}.tolerance' must be >= 0, got {tolerance:g}")
        regressions.append(NoRegression(metric, tolerance))
    return Gates(tuple(thresholds), tuple(regressions))


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def evaluate(gates: Gates, metrics: Mapping[str, float], directions: Mapping[str, str],
             baseline: Mapping[str, float] | None) -> list[GateResult]:
    """Every gate's row, in config order: thresholds first, then no-regression gates."""
    rows: list[GateResult] = []
    for t in gates.thresholds:
        value = metrics.get(t.metric)
        for kind, limit in (("min", t.minimum), ("max", t.maximum)):
            if limit is None:
                continue
            if value is None:
                rows.append(GateResult(kind, t.metric, None, limit, False,
                                       "metric not recorded by the run"))
                continue
            ok = value >= limit if kind == "min" else value <= limit
            sign = (">=" if ok else "<") if kind == "min" else ("<=" if ok else ">")
            rows.append(GateResult(kind, t.metric, value, limit, ok,
                                   f"{_fmt(value)} {sign} {kind} {_fmt(limit)}"))
    for g in gates.no_regression:
        rows.append(_no_regression(g, metrics, directions, baseline))
    return rows


def _no_regression(g: NoRegression, metrics: Mapping[str, float],
                   directions: Mapping[str, str],
                   baseline: Mapping[str, float] | None) -> GateResult:
    value = metrics.get(g.metric)
    if value is None:
        return GateResult("no_regression", g.metric, None, None, False,
                          "metric not recorded by the run")
    if baseline is None:
        return GateResult("no_regression", g.metric, value, None, True,
                          "no production baseline yet; gate passes")
    base = baseline.get(g.metric)
    if base is None:
        return GateResult("no_regression", g.metric, value, None, True,
                          "production baseline has no value for this metric; gate passes")
    lower = directions.get(g.metric, "higher") == "lower"
    slack = abs(base) * g.tolerance
    limit = base + slack if lower else base - slack
    ok = value <= limit if lower else value >= limit
    word = "at most" if lower else "at least"
    detail = (f"{_fmt(value)} vs production {_fmt(base)} ({'lower' if lower else 'higher'} "
              f"is better, tolerance {g.tolerance:.4g}): needs {word} {_fmt(limit)}")
    return GateResult("no_regression", g.metric, value, limit, ok, detail)


def failed(rows: list[GateResult]) -> list[GateResult]:
    return [r for r in rows if not r.passed]


def format_table(rows: list[GateResult], title: str = "") -> str:
    """Plain-text gate table for the job log."""
    lines = [title] if title else []
    if not rows:
        lines.append("  (no gates configured)")
    for r in rows:
        value = "-" if r.gate == "run_status" else "missing" if r.value is None else _fmt(r.value)
        limit = "-" if r.limit is None else _fmt(r.limit)
        mark = "PASS" if r.passed else "FAIL"
        lines.append(f"  {mark}  {r.gate:<13} {r.metric:<20} value={value:<12} "
                     f"limit={limit:<12} {r.detail}")
    return "\n".join(lines)
