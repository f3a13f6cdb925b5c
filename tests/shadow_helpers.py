"""Tiny real XGBoost models and the rows they score, for the shadow-comparison tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["f_a", "f_b", "f_c", "f_d"]


def frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)


def train_model(path: Path, *, flip: bool = False, seed: int = 0,
                features: list[str] | None = None) -> Path:
    """An XGBoost classifier of ``f_a + f_b > 0`` (the opposite with ``flip``) saved as JSON."""
    import xgboost as xgb

    x = frame(400, seed + 1)[features or FEATURES]
    y = ((x["f_a"] + x["f_b"] > 0) != flip).astype(int)
    model = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1, random_state=seed)
    model.fit(x, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(path)
    return path
