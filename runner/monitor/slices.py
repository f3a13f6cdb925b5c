"""Metrics per slice of the data: one overall number can hide a group the model fails.

``record_slices("auc", by="size_band", data=test, y_true="target", y_score="score")`` scores each
slice and records the values with their row counts (``runner.metrics.record_slice_values``);
``gates.slices`` in the config judges the worst slice and the gap between best and worst. A
slice the metric cannot honestly be computed on (too few rows, one class only for AUC, an
undefined result) is recorded as skipped with its reason, never as a number.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from runner.metrics import record_slice_values

logger = logging.getLogger(__name__)

MISSING_SLICE = "(missing)"   # rows whose slice label is missing form a slice of their own
DEFAULT_MIN_COUNT = 10

ScoreFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Scorer:
    """A metric of true values and scores; ``both_classes``: undefined unless y has 0 and 1."""

    fn: ScoreFn
    both_classes: bool = False


def _labels(score: np.ndarray, threshold: float) -> np.ndarray:
    return (score >= threshold).astype(int)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def _logloss(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, p, labels=[0, 1]))


def _classification(name: str, threshold: float) -> ScoreFn:
    def fn(y: np.ndarray, p: np.ndarray) -> float:
        from sklearn import metrics

        labels = _labels(p, threshold)
        if name == "accuracy":
            return float(metrics.accuracy_score(y, labels))
        score = getattr(metrics, f"{name}_score")
        return float(score(y, labels, zero_division=np.nan))  # undefined -> NaN -> skipped
    return fn


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - p) ** 2).sum()) / total if total else math.nan


def scorers(threshold: float = 0.5) -> dict[str, Scorer]:
    """The metrics ``record_slices`` knows by name; labels are scores cut at ``threshold``."""
    return {
        "auc": Scorer(_auc, both_classes=True),
        "accuracy": Scorer(_classification("accuracy", threshold)),
        "f1": Scorer(_classification("f1", threshold)),
        "precision": Scorer(_classification("precision", threshold)),
        "recall": Scorer(_classification("recall", threshold)),
        "logloss": Scorer(_logloss),
        "brier": Scorer(lambda y, p: float(np.mean((p - y) ** 2))),
        "mae": Scorer(lambda y, p: float(np.mean(np.abs(p - y)))),
        "rmse": Scorer(lambda y, p: float(np.sqrt(np.mean((p - y) ** 2)))),
        "r2": Scorer(_r2),
    }


def _scorer(metric: str, scorer: str | ScoreFn | None, threshold: float) -> Scorer:
    known = scorers(threshold)
    if callable(scorer):
        return Scorer(scorer)
    name = scorer or metric
    if name not in known:
        raise ValueError(f"no default scorer for metric {name!r}: pass scorer= (a function of "
                         f"y_true and y_score) or one of {', '.join(known)}")
    return known[name]


def _column(value: Any, data: pd.DataFrame | None, what: str) -> Any:
    if isinstance(value, str):
        if data is None or value not in data.columns:
            raise ValueError(f"{what}={value!r} names a column, but data= has no such column")
        return data[value]
    if value is None:
        raise ValueError(f"record_slices needs {what}= (or values= already computed)")
    return value


def _slice_labels(by: Any) -> tuple[pd.Series, list[str]]:
    """The slice of each row as text, and the slices in order (categories keep their order)."""
    series = by if isinstance(by, pd.Series) else pd.Series(np.asarray(by))
    if isinstance(series.dtype, pd.CategoricalDtype):
        order = [str(c) for c in series.cat.categories]
    else:
        present = series.dropna().unique()
        with contextlib.suppress(TypeError):   # mixed types keep their order of appearance
            present = sorted(present)
        order = [str(v) for v in present]
    labels = series.astype(object).where(series.notna(), MISSING_SLICE).map(str)
    if (labels == MISSING_SLICE).any() and MISSING_SLICE not in order:
        order.append(MISSING_SLICE)
    return labels.reset_index(drop=True), order


def _aligned(parts: Sequence[tuple[str, Any]]) -> list[np.ndarray]:
    """The arrays of ``parts``, checked to be the same rows (same length; equal pandas index)."""
    indexes = [(n, v.index) for n, v in parts if isinstance(v, pd.Series | pd.DataFrame)]
    for name, index in indexes[1:]:
        if not index.equals(indexes[0][1]):
            raise ValueError(f"{name} is not aligned with {indexes[0][0]} (their indexes "
                             "differ): pass them from the same rows")
    arrays = [np.asarray(v) for _, v in parts]
    lengths = {n: len(a) for (n, _), a in zip(parts, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"by, y_true and y_score must have the same length, got {lengths}")
    return arrays


def score_slices(by: Any, y_true: Any, y_score: Any, scorer: Scorer,
                 min_count: int = DEFAULT_MIN_COUNT,
                 ) -> tuple[dict[str, float], dict[str, int], dict[str, str], list[str]]:
    """Values, row counts and skip reasons per slice, and the slices in order."""
    _, y, p = _aligned([("by", by), ("y_true", y_true), ("y_score", y_score)])
    labels, order = _slice_labels(by)
    y, p = y.astype(float), p.astype(float)
    for what, arr in (("y_true", y), ("y_score", p)):
        if np.isnan(arr).any():
            raise ValueError(f"{what} has {int(np.isnan(arr).sum())} missing values")
    values: dict[str, float] = {}
    counts: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for name in order:
        mask = (labels == name).to_numpy()
        counts[name] = n = int(mask.sum())
        if n < max(min_count, 1):
            skipped[name] = "no rows" if n == 0 else f"{n} rows < min_count {min_count}"
        elif scorer.both_classes and len(np.unique(y[mask])) < 2:
            skipped[name] = f"one class only ({n} rows of class {y[mask][0]:g})"
        else:
            try:
                value = scorer.fn(y[mask], p[mask])
            except ValueError as e:
                skipped[name] = f"undefined: {e}"
                continue
            if math.isfinite(value):
                values[name] = value
            else:
                skipped[name] = "undefined on this slice"
    return values, counts, skipped, order


def record_slices(metric: str, by: Any, *, y_true: Any = None, y_score: Any = None,
                  data: pd.DataFrame | None = None, scorer: str | ScoreFn | None = None,
                  values: Mapping[str, float | None] | None = None,
                  counts: Mapping[str, int] | None = None, by_name: str | None = None,
                  min_count: int = DEFAULT_MIN_COUNT, threshold: float = 0.5) -> pd.Series:
    """Compute ``metric`` on each slice of the rows and record it for ``gates.slices``.

    ``by``: the slice of each row (a Series or array aligned with ``y_true``), or a column of
    ``data``; ``y_true``/``y_score`` likewise (scores are probabilities for classification,
    cut at ``threshold`` for label metrics). ``scorer``: a known metric name or a function of
    ``(y_true, y_score)``; by default the one named ``metric``. Or pass ``values`` (and
    ``counts``) computed elsewhere. Slices with fewer than ``min_count`` rows, or where the
    metric is undefined, are recorded as skipped. Returns the values per slice (NaN: skipped).
    """
    if values is not None:
        if not isinstance(by, str):
            raise ValueError("with values=, by= must name the slicing (a string)")
        order = [str(k) for k in values]
        got = {str(k): float(v) for k, v in values.items() if v is not None}
        scored = {k: v for k, v in got.items() if math.isfinite(v)}
        skipped = {k: "not computed" for k in order if k not in scored}
        counted = {str(k): int(v) for k, v in (counts or {}).items()}
        name = by_name or by
    else:
        labels = _column(by, data, "by")
        fn = _scorer(metric, scorer, threshold)
        scored, counted, skipped, order = score_slices(
            labels, _column(y_true, data, "y_true"), _column(y_score, data, "y_score"), fn,
            min_count)
        name = by_name or (by if isinstance(by, str) else str(getattr(by, "name", None) or
                                                                "slice"))
    for slice_name, reason in skipped.items():
        logger.warning("%s on %s %r skipped: %s", metric, name, slice_name, reason)
    record_slice_values(metric, name, scored, counted, skipped)
    out = pd.Series([scored.get(k, math.nan) for k in order], index=pd.Index(order, name=name),
                    name=metric, dtype=float)
    return out
