"""Drift of a scoring run's input and scores against the model's reference profile
(``runner.monitor.profile``), recorded as metrics the ``gates.drift`` gate and the reports read.

Population stability index per column and for the score, over the reference's bins::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

with ``e_i`` the reference share of bin ``i``, ``a_i`` the current share, both floored at
``EPSILON`` so an empty bin counts as rare instead of making the sum infinite. The usual reading:
below 0.1 no significant shift, 0.1 to 0.25 a moderate one worth a look, above 0.25 a
significant one. Numeric columns also get the two-sample Kolmogorov-Smirnov test of the
reference sample against (a random subsample of) the current values, and every column the change
of its missing rate.

Metric names (``runner.metrics`` allows ``[A-Za-z0-9_.-/]``, so a column's name is sanitised by
:func:`metric_key`): ``drift/score_psi``, ``drift/score_ks_p``, ``drift/psi_max`` (the worst
column), and per column ``drift/psi/<col>``, ``drift/ks/<col>``, ``drift/ks_p/<col>``,
``drift/missing/<col>`` (current minus reference missing rate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runner.metrics import record
from runner.monitor.names import (
    PSI_MAX,
    SCORE_KS_P,
    SCORE_PSI,
    column_metric,
)
from runner.monitor.profile import OTHER, SCORE, bin_counts, load_profile

EPSILON = 1e-4
KS_MAX_ROWS = 20_000       # current values the KS test looks at (a seeded random subsample)


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = EPSILON) -> float:
    """PSI of two share vectors over the same bins (see the module docstring)."""
    e = np.maximum(np.asarray(expected, dtype=float), eps)
    a = np.maximum(np.asarray(actual, dtype=float), eps)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class ColumnDrift:
    """One column's (or the score's) drift; ``None``: not measurable (no values, categorical)."""

    name: str
    psi: float | None
    ks: float | None = None
    ks_p: float | None = None
    missing_ref: float = 0.0
    missing_now: float = 0.0

    @property
    def missing_change(self) -> float:
        return self.missing_now - self.missing_ref


def kolmogorov_sf(x: float) -> float:
    """P(K > x) of the Kolmogorov distribution: ``2 * sum (-1)^(k-1) exp(-2 k^2 x^2)``."""
    if x < 0.2:            # the series needs many terms there, and the answer rounds to 1
        return 1.0
    k = np.arange(1, 101)
    return float(min(1.0, max(0.0, 2 * np.sum((-1.0) ** (k - 1) * np.exp(-2 * k**2 * x**2)))))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test: the largest gap between the two empirical CDFs and
    its asymptotic p-value (``kolmogorov_sf(sqrt(n m / (n + m)) D)``, scipy's
    ``ks_2samp(method="asymp")``); numpy only, so a scoring run does not import scipy.stats
    (about a second) for it."""
    a, b = np.sort(a), np.sort(b)
    both = np.concatenate([a, b])
    gap = np.abs(np.searchsorted(a, both, side="right") / len(a)
                 - np.searchsorted(b, both, side="right") / len(b))
    d = float(gap.max())
    en = len(a) * len(b) / (len(a) + len(b))
    return d, kolmogorov_sf(math.sqrt(en) * d)


def _ks(sample: list[float], values: np.ndarray, rng: np.random.Generator
        ) -> tuple[float | None, float | None]:
    if len(sample) < 2 or len(values) < 2:
        return None, None
    if len(values) > KS_MAX_ROWS:
        values = values[rng.integers(0, len(values), KS_MAX_ROWS)]
    return ks_2samp(np.asarray(sample, dtype=float), values)


def numeric_drift(name: str, ref: Mapping[str, Any], values: np.ndarray,
                  rng: np.random.Generator) -> ColumnDrift:
    missing = np.isnan(values)
    present = values[~missing] if missing.any() else values
    now = float(missing.mean()) if len(values) else 0.0
    ref_missing = float(ref.get("missing_rate", 0.0))
    if len(present) == 0:
        return ColumnDrift(name, None, None, None, ref_missing, now)
    edges = list(ref["edges"])
    counts = bin_counts(present, edges)
    value = psi(np.asarray(ref["shares"]), counts / len(present))
    ks, ks_p = _ks(ref.get("sample") or [], present, rng)
    return ColumnDrift(name, value, ks, ks_p, ref_missing, now)


def categorical_drift(name: str, ref: Mapping[str, Any], column: pd.Series) -> ColumnDrift:
    shares: Mapping[str, float] = ref["categories"]
    present = column.dropna().astype(str)
    now = 1.0 - len(present) / len(column) if len(column) else 0.0
    ref_missing = float(ref.get("missing_rate", 0.0))
    if len(present) == 0:
        return ColumnDrift(name, None, None, None, ref_missing, now)
    known = present.where(present.isin([k for k in shares if k != OTHER]), OTHER)
    current = known.value_counts(normalize=True)
    keys = list(shares)
    value = psi(np.array([shares[k] for k in keys]),
                np.array([float(current.get(k, 0.0)) for k in keys]))
    return ColumnDrift(name, value, None, None, ref_missing, now)


@dataclass
class DriftResult:
    """Every profiled column's drift and the score's, worst first by :meth:`table`."""

    columns: list[ColumnDrift] = field(default_factory=list)
    score: ColumnDrift | None = None

    @property
    def psi_max(self) -> float | None:
        values = [c.psi for c in self.columns if c.psi is not None]
        return max(values) if values else None

    def metrics(self) -> dict[str, float]:
        """What :func:`record_drift` records (finite numbers only)."""
        out: dict[str, float] = {}
        if self.score is not None:
            out[SCORE_PSI] = self.score.psi if self.score.psi is not None else math.nan
            out[SCORE_KS_P] = self.score.ks_p if self.score.ks_p is not None else math.nan
        out[PSI_MAX] = self.psi_max if self.psi_max is not None else math.nan
        for c in self.columns:
            for kind, value in (("psi", c.psi), ("ks", c.ks), ("ks_p", c.ks_p),
                                ("missing", c.missing_change)):
                if value is not None:
                    out[column_metric(kind, c.name)] = value
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def table(self) -> pd.DataFrame:
        """One row per column, the most drifted (highest PSI) first, the score on top."""
        rows = ([self.score] if self.score else []) + sorted(
            self.columns, key=lambda c: -1.0 if c.psi is None else c.psi, reverse=True)
        return pd.DataFrame([{"column": c.name, "psi": c.psi, "ks": c.ks, "ks_p": c.ks_p,
                              "missing_change": c.missing_change} for c in rows]
                            ).set_index("column")


def compute_drift(profile: Mapping[str, Any], frame: pd.DataFrame, scores: Any = None, *,
                  seed: int = 0) -> DriftResult:
    """Compare ``frame`` (columns named as in the profile) and ``scores`` with ``profile``.
    A profiled column the frame lacks counts as entirely missing."""
    rng = np.random.default_rng(seed)
    result = DriftResult()
    for name, ref in profile["features"].items():
        if name not in frame.columns:
            result.columns.append(ColumnDrift(name, None, None, None,
                                              float(ref.get("missing_rate", 0.0)), 1.0))
        elif ref.get("kind") == "numeric":
            values = frame[name].to_numpy(dtype=float, na_value=np.nan)
            result.columns.append(numeric_drift(name, ref, values, rng))
        else:
            result.columns.append(categorical_drift(name, ref, frame[name]))
    if scores is not None and SCORE in profile:
        values = np.asarray(scores, dtype=float).ravel()
        result.score = numeric_drift(SCORE, profile[SCORE], values, rng)
    return result


def record_drift(profile: Mapping[str, Any] | Path | str, frame: pd.DataFrame,
                 scores: Any = None, *, seed: int = 0) -> DriftResult:
    """Compute drift against ``profile`` (a profile or the path of one) and record it as
    metrics; returns the result (``.table()`` shows it in the notebook)."""
    ref = load_profile(Path(profile)) if isinstance(profile, Path | str) else profile
    result = compute_drift(ref, frame, scores, seed=seed)
    for name, value in result.metrics().items():
        record(name, value)
    return result
