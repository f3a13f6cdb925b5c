"""``gates.drift``: limits on the drift a scoring run recorded with
``runner.monitor.drift.record_drift`` against its model's reference profile.

```yaml
gates:
  drift:
    score_psi: {max: 0.2}          # PSI of the score distribution
    feature_psi: {max: 0.25}       # the worst input column's PSI
    ks_pvalue: {min: 0.001}        # the smallest two-sample KS p-value of a numeric column
    missing_change: {max: 0.05}    # the largest rise of a column's missing rate
```

One row per key; a row over several columns names the worst one as its metric and lists every
column past the limit, worst first. A run that recorded no drift fails every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.config import Config
from runner.errors import ConfigError
from runner.monitor.names import SCORE_PSI, column_prefix
from runner.report.gates.base import Check, GateInput, GateResult, number

GATE = "drift"
NOT_RECORDED = "drift not recorded by the run (runner.monitor.drift.record_drift)"
SHOWN = 3    # columns named in a row's detail
SIGNS = {("min", True): ">=", ("min", False): "<", ("max", True): "<=", ("max", False): ">"}


@dataclass(frozen=True)
class Kind:
    """A key under ``gates.drift``: the metric (or per-column metric prefix) it reads, the
    bound it takes and what it is called in a row."""

    metric: str            # a metric name, or a prefix ending in "/" for one per column
    bound: str             # "min" or "max"
    label: str


KINDS: dict[str, Kind] = {
    "score_psi": Kind(SCORE_PSI, "max", "score PSI"),
    "feature_psi": Kind(column_prefix("psi"), "max", "PSI"),
    "ks_pvalue": Kind(column_prefix("ks_p"), "min", "KS p-value"),
    "missing_change": Kind(column_prefix("missing"), "max", "missing-rate change"),
}


def column_values(metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    """``{column key: value}`` of the metrics under ``prefix`` (e.g. ``drift/psi/``)."""
    return {name[len(prefix):]: value for name, value in metrics.items()
            if name.startswith(prefix)}


@dataclass(frozen=True)
class DriftCheck:
    name: str              # the key under gates.drift
    limit: float
    key: str = field(default="", compare=False)

    @property
    def kind(self) -> Kind:
        return KINDS[self.name]

    @property
    def metric(self) -> str:
        """The metric name, or ``drift/<kind>/*`` for a per-column check."""
        m = self.kind.metric
        return f"{m}*" if m.endswith("/") else m

    def _ok(self, value: float) -> bool:
        return value >= self.limit if self.kind.bound == "min" else value <= self.limit

    def evaluate(self, run: GateInput) -> list[GateResult]:
        kind, bound = self.kind, self.kind.bound
        if not kind.metric.endswith("/"):
            value = run.metrics.get(kind.metric)
            if value is None:
                return [GateResult(GATE, kind.metric, None, self.limit, False, NOT_RECORDED)]
            ok = self._ok(value)
            sign = SIGNS[bound, ok]
            return [GateResult(GATE, kind.metric, value, self.limit, ok,
                               f"{kind.label} {number(value)} {sign} {bound} "
                               f"{number(self.limit)}")]
        values = column_values(run.metrics, kind.metric)
        if not values:
            return [GateResult(GATE, self.metric, None, self.limit, False, NOT_RECORDED)]
        order = sorted(values.items(), key=lambda kv: kv[1], reverse=bound == "max")
        worst, value = order[0]
        bad = [(c, v) for c, v in order if not self._ok(v)]
        if bad:
            named = ", ".join(f"{c} {number(v)}" for c, v in bad[:SHOWN])
            more = f", … +{len(bad) - SHOWN}" if len(bad) > SHOWN else ""
            detail = (f"{len(bad)} of {len(values)} columns past {bound} "
                      f"{number(self.limit)} ({kind.label}): {named}{more}")
        else:
            detail = (f"worst {kind.label} {worst} {number(value)} within {bound} "
                      f"{number(self.limit)} ({len(values)} columns)")
        return [GateResult(GATE, f"{kind.metric}{worst}", value, self.limit, not bad, detail)]


class DriftGate:
    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]:
        checks = []
        for name in cfg.get(key, dict, {}):
            where = f"{key}.{name}"
            if name not in KINDS:
                raise ConfigError(f"{cfg.source}: unknown key '{where}' "
                                  f"(expected {', '.join(KINDS)})")
            bound = KINDS[name].bound
            limits = cfg.get(where, dict)
            if set(limits) != {bound}:
                raise ConfigError(f"{cfg.source}: '{where}' must be a mapping with '{bound}' "
                                  f"only, e.g. {{{bound}: 0.2}}")
            limit = cfg.get(f"{where}.{bound}", float)
            if limit < 0:
                raise ConfigError(f"{cfg.source}: '{where}.{bound}' must be 0 or more, "
                                  f"got {limit:g}")
            checks.append(DriftCheck(str(name), limit, where))
        return tuple(checks)
