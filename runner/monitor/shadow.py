"""Shadow comparison: score the same rows with a candidate model and the production model,
offline, and say what would change if the candidate were released.

Three numbers (``ds-runner shadow`` records them, ``gates.shadow`` judges them):

- *agreement*: the share of rows whose label (score >= threshold) is the same under both;
- *score PSI*: the population stability index of the candidate's scores against the
  production model's, over ten equal-width score bands (``runner.monitor.drift`` has the
  formula; :func:`score_psi` says why not deciles), so a model that labels alike but moves its
  scores between bands shows up;
- *latency ratio*: the candidate's time per row over production's, each the fastest of a few
  whole-frame timings taken in turn (as ``timeit`` advises: the slower ones measure what else
  the machine was doing, not the model), so a model that is slower in production is caught early.

Models load through :data:`LOADERS` by file suffix (XGBoost JSON or UBJSON today); another kind
of model is one loader there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from runner.errors import UsageError
from runner.monitor.drift import psi
from runner.monitor.profile import DEFAULT_BINS

DEFAULT_THRESHOLD = 0.5
TIMINGS = 7          # whole-frame timings per model; the fastest counts


class Scorer(Protocol):
    """A loaded model: the columns it needs (``None``: the frame as it is) and its scores."""

    @property
    def features(self) -> list[str] | None: ...

    def __call__(self, frame: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class XGBoostScorer:
    """An ``xgboost.XGBClassifier`` saved with ``save_model``; the score is P(class 1)."""

    model: Any

    @property
    def features(self) -> list[str] | None:
        names = self.model.get_booster().feature_names
        return list(names) if names else None

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict_proba(frame)[:, 1], dtype=float)


def load_xgboost(path: Path) -> Scorer:
    import xgboost as xgb

    model = xgb.XGBClassifier()
    model.load_model(path)
    model.set_params(n_jobs=1, device="cpu")   # both models alike: one core, as in scoring
    return XGBoostScorer(model)


LOADERS: dict[str, Callable[[Path], Scorer]] = {".json": load_xgboost, ".ubj": load_xgboost}


def load_model(path: Path) -> Scorer:
    """The scorer for a model file, by its suffix; UsageError for a kind we cannot load."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise UsageError(f"no model loader for {path.name} (known suffixes: "
                         f"{', '.join(LOADERS)})")
    return loader(path)


def missing_features(scorer: Scorer, frame: pd.DataFrame) -> list[str]:
    """The model's features the frame lacks (none when the model names no features)."""
    return [f for f in scorer.features or [] if f not in frame.columns]


def model_input(scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    features = scorer.features
    return frame[features] if features else frame


def score_psi(production: np.ndarray, candidate: np.ndarray, bins: int = DEFAULT_BINS) -> float:
    """PSI of the candidate's scores against production's over ``bins`` equal-width score bands
    on [0, 1] (on the scores' joint range when some lie outside it). Not quantile bins: a good
    classifier piles its scores up near 0 and 1, so production's deciles there are a hair apart
    and a calibration change of 0.01 would cross them all (PSI in the units, for the same
    labels); bands measure how the mass moves between score levels."""
    prod = np.asarray(production, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    low, high = min(prod.min(), cand.min(), 0.0), max(prod.max(), cand.max(), 1.0)
    edges = np.linspace(low, high, bins + 1)[1:-1]

    def shares(values: np.ndarray) -> np.ndarray:   # right-closed bins, as the profiles' bins
        found = np.searchsorted(edges, values, side="left")
        return np.bincount(found, minlength=bins) / len(values)

    return psi(shares(prod), shares(cand))


def seconds_per_row(scorers: list[tuple[Scorer, pd.DataFrame]], timings: int = TIMINGS
                    ) -> list[float]:
    """The fastest whole-frame scoring time per row of each scorer, timed in turn so that a busy
    moment of the machine falls on both."""
    taken: list[list[float]] = [[] for _ in scorers]
    for _ in range(timings):
        for i, (scorer, frame) in enumerate(scorers):
            started = time.perf_counter()
            scorer(frame)
            taken[i].append(time.perf_counter() - started)
    return [min(t) / max(1, len(frame))
            for t, (_, frame) in zip(taken, scorers, strict=True)]


@dataclass(frozen=True)
class Comparison:
    """What changes between production and the candidate on the same rows."""

    rows: int
    threshold: float
    agreement: float                 # share of rows with the same label
    labels_changed: int
    score_psi: float
    mean_abs_score_change: float
    positive_rate_production: float
    positive_rate_candidate: float
    latency_ms_production: float     # per row, the fastest of TIMINGS whole-frame timings
    latency_ms_candidate: float
    latency_ratio: float             # candidate / production

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def compare(candidate: Scorer, production: Scorer, frame: pd.DataFrame,
            threshold: float = DEFAULT_THRESHOLD, timings: int = TIMINGS) -> Comparison:
    """Score ``frame`` with both models; the frame must hold every feature of each."""
    if frame.empty:
        raise UsageError("the scored input has no rows: nothing to compare")
    cand_x, prod_x = model_input(candidate, frame), model_input(production, frame)
    cand, prod = candidate(cand_x), production(prod_x)
    same = (cand >= threshold) == (prod >= threshold)
    cand_s, prod_s = seconds_per_row([(candidate, cand_x), (production, prod_x)], timings)
    return Comparison(
        rows=len(frame), threshold=threshold, agreement=float(same.mean()),
        labels_changed=int((~same).sum()), score_psi=score_psi(prod, cand),
        mean_abs_score_change=float(np.abs(cand - prod).mean()),
        positive_rate_production=float((prod >= threshold).mean()),
        positive_rate_candidate=float((cand >= threshold).mean()),
        latency_ms_production=prod_s * 1000, latency_ms_candidate=cand_s * 1000,
        latency_ratio=cand_s / max(prod_s, 1e-12))
