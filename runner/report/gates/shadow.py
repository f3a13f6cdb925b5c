"""``gates.shadow``: limits on what changes when the candidate model replaces production, measured
by ``ds-runner shadow`` on the inputs of the latest scheduled scoring run.

```yaml
gates:
  shadow:
    scoring_notebook: notebooks/inference_example.ipynb   # whose scheduled inputs to score
    threshold: 0.5            # score >= threshold -> label 1 (default 0.5)
    min_agreement: 0.95       # share of rows whose label stays the same
    max_score_psi: 0.1        # PSI of the candidate's scores against production's
    max_latency_ratio: 1.5    # candidate time per row / production's
```

``ds-runner shadow`` writes ``shadow.json`` into the candidate run's output folder with one
check row per measure (``shadow/agreement``, ``shadow/score_psi``, ``shadow/latency_ratio``;
a measure without a limit passes and is shown), or one passing ``shadow/comparison`` row that
says what is missing (no production model, no scheduled run yet). The reports load those rows
with the run (``runner.report.runs``) and this gate shows them. When the config asks for the
gate and nothing was recorded, the gate fails: a release is never made without the comparison.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.config import Config
from runner.errors import ConfigError
from runner.report.gates.base import Check, GateInput, GateResult, number, recorded_row

logger = logging.getLogger(__name__)

SHADOW_FILE = "shadow.json"
PREFIX = "shadow/"
SKIPPED = "shadow/comparison"
# measure -> (limit key, True when the value must be at least the limit)
MEASURES = {"agreement": ("min_agreement", True), "score_psi": ("max_score_psi", False),
            "latency_ratio": ("max_latency_ratio", False)}
OPTIONS = ("scoring_notebook", "threshold")
NOT_RUN = ("shadow comparison not run: `ds-runner shadow` (the shadow-compare job; `--local` "
           "on this machine) records it before a release")


def check_row(passed: bool, value: float | None, limit: float | None, detail: str
              ) -> dict[str, Any]:
    """One recorded check, as ``runner.metrics.record_check`` stores it."""
    return {"passed": bool(passed), "value": value, "limit": limit, "detail": detail}


@dataclass(frozen=True)
class ShadowLimits:
    """The parsed ``gates.shadow`` block."""

    min_agreement: float | None = None
    max_score_psi: float | None = None
    max_latency_ratio: float | None = None
    threshold: float = 0.5
    scoring_notebook: str = ""
    key: str = field(default="gates.shadow", compare=False)
    metric: str = ""          # judges no metric the notebook records: ds-runner shadow's rows

    def limit(self, measure: str) -> float | None:
        value: float | None = getattr(self, MEASURES[measure][0])
        return value

    def judge(self, measure: str, value: float, detail: str) -> dict[str, Any]:
        """The check row of one measure: passed against its limit, or shown when it has none."""
        limit, at_least = self.limit(measure), MEASURES[measure][1]
        if limit is None:
            return check_row(True, value, None, f"{number(value)}, not gated; {detail}")
        ok = value >= limit if at_least else value <= limit
        sign = (">=" if ok else "<") if at_least else ("<=" if ok else ">")
        return check_row(ok, value, limit, f"{number(value)} {sign} {number(limit)}; {detail}")

    def evaluate(self, run: GateInput) -> list[GateResult]:
        rows = [(name, row) for name, row in run.checks.items() if name.startswith(PREFIX)]
        if not rows:
            return [GateResult("shadow", "shadow", None, None, False, NOT_RUN,
                               has_value=False)]
        return [recorded_row("shadow", name, row) for name, row in rows]


def parse_limits(cfg: Config, key: str) -> ShadowLimits:
    block = cfg.get(key, dict, {})
    extra = sorted(set(block) - {*OPTIONS, *(k for k, _ in MEASURES.values())})
    if extra:
        raise ConfigError(f"{cfg.source}: unknown key '{key}.{extra[0]}' (expected "
                          f"{', '.join([*OPTIONS, *(k for k, _ in MEASURES.values())])})")
    limits = {k: cfg.get(f"{key}.{k}", float) for k, _ in MEASURES.values() if k in block}
    for name, value in limits.items():
        if value < 0 or (name == "min_agreement" and value > 1):
            bound = "between 0 and 1" if name == "min_agreement" else ">= 0"
            raise ConfigError(f"{cfg.source}: '{key}.{name}' must be {bound}, got {value:g}")
    threshold = cfg.get(f"{key}.threshold", float, 0.5)
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"{cfg.source}: '{key}.threshold' must be between 0 and 1, "
                          f"got {threshold:g}")
    return ShadowLimits(limits.get("min_agreement"), limits.get("max_score_psi"),
                        limits.get("max_latency_ratio"), threshold,
                        cfg.get(f"{key}.scoring_notebook", str, ""), key)


def shadow_limits(config: Mapping[str, Any], source: str = "config") -> ShadowLimits | None:
    """``gates.shadow`` of a notebook's config; None when the config does not ask for it."""
    gates = config.get("gates")
    if not isinstance(gates, Mapping) or "shadow" not in gates:
        return None
    return parse_limits(Config(config, source), "gates.shadow")


class ShadowGate:
    def parse(self, cfg: Config, key: str) -> tuple[Check, ...]:
        return (parse_limits(cfg, key),)


def read_shadow_checks(folder: Path) -> dict[str, dict[str, Any]]:
    """The check rows ``ds-runner shadow`` wrote into a run's output folder ({} when none)."""
    path = folder / SHADOW_FILE
    if not path.is_file():
        return {}
    try:
        checks = json.loads(path.read_text(encoding="utf-8")).get("checks") or {}
    except (ValueError, AttributeError) as e:
        logger.warning("unreadable %s: %s", path, e)
        return {}
    return {str(k): dict(v) for k, v in checks.items()
            if str(k).startswith(PREFIX) and isinstance(v, Mapping)}
