"""The reference profile a model is stored with: what its training data and held-out scores
looked like, so a later scoring run can tell whether its input drifted (``runner.monitor.drift``).

Per numeric column: quantile bin edges (right-closed bins, the outer two open-ended), the share
of non-missing rows in each bin, the missing rate and a bounded random sample of the values (for
the two-sample test); per other column: the share of its most common values. The profile is plain
JSON, stored beside the model as ``<model stem>.profile.json`` and, in a registered model
version, as ``reference_profile.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runner.errors import UsageError

PROFILE_VERSION = 1
REGISTRY_NAME = "reference_profile.json"   # the file's name inside a registered model version
DEFAULT_BINS = 10
DEFAULT_SAMPLE = 1000
MAX_CATEGORIES = 20
OTHER = "__other__"
SCORE = "score"


def profile_path_for(model_path: Path) -> Path:
    """``xgb_model.json`` -> ``xgb_model.profile.json`` in the same folder."""
    return model_path.with_name(f"{model_path.stem}.profile.json")


def reference_for(model_path: Path) -> Path | None:
    """The reference profile of a model file: ``<model stem>.profile.json`` beside it (the
    committed model, a training run's output), else ``reference_profile.json`` beside it (a
    registered version's files, as ``runner.models`` downloads them); None when neither."""
    for path in (profile_path_for(model_path), model_path.with_name(REGISTRY_NAME)):
        if path.is_file():
            return path
    return None


def model_digest(model_path: Path) -> str:
    """The sha256 of a model file, which a profile records (``info.model_sha256``) to say which
    model it is the reference of."""
    return hashlib.sha256(Path(model_path).read_bytes()).hexdigest()


def check_pairing(profile_path: Path, model_path: Path) -> None:
    """UsageError when the profile names another model file than ``model_path`` by digest: drift
    against another model's scores would alarm (or stay quiet) for no reason. A profile without a
    digest (written before it was recorded) is taken as it is."""
    recorded = (load_profile(profile_path).get("info") or {}).get("model_sha256")
    if recorded and recorded != model_digest(model_path):
        raise UsageError(f"{profile_path} is the reference profile of another model than "
                         f"{model_path} (sha256 {recorded[:12]}..., the file's is "
                         f"{model_digest(model_path)[:12]}...): commit the profile the training "
                         "run wrote beside the model with it")


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """How many ``values`` fall in each bin: bin ``i`` holds ``edges[i-1] < v <= edges[i]``,
    the first and last bins are open-ended. One comparison pass per edge: on a million values
    much faster than a binary search per value."""
    below = [np.count_nonzero(values <= e) for e in edges]
    return np.diff(np.array([0, *below, len(values)]))


def _numeric(values: np.ndarray, bins: int, sample: int, rng: np.random.Generator
             ) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    missing = 1.0 - len(present) / len(values) if len(values) else 0.0
    if len(present) == 0:
        return {"kind": "numeric", "edges": [], "shares": [1.0], "missing_rate": missing,
                "sample": []}
    inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = [float(e) for e in np.unique(inner)]
    counts = bin_counts(present, edges)
    picked = present if len(present) <= sample else rng.choice(present, sample, replace=False)
    return {"kind": "numeric", "edges": edges,
            "shares": [float(c) / len(present) for c in counts], "missing_rate": missing,
            "sample": [float(v) for v in np.sort(picked)]}


def _categorical(column: pd.Series) -> dict[str, Any]:
    present = column.dropna().astype(str)
    missing = 1.0 - len(present) / len(column) if len(column) else 0.0
    counts = present.value_counts()
    top = counts.head(MAX_CATEGORIES)
    shares = {str(k): float(v) / max(1, len(present)) for k, v in top.items()}
    rest = int(counts.iloc[MAX_CATEGORIES:].sum()) if len(counts) > MAX_CATEGORIES else 0
    shares[OTHER] = rest / max(1, len(present))
    return {"kind": "categorical", "categories": shares, "missing_rate": missing}


def column_profile(column: pd.Series, bins: int = DEFAULT_BINS, sample: int = DEFAULT_SAMPLE,
                   seed: int = 0) -> dict[str, Any]:
    """One column's reference: numeric (bool included) or categorical."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        return _numeric(values, bins, sample, np.random.default_rng(seed))
    return _categorical(column)


def build_profile(frame: pd.DataFrame, scores: Any, *, bins: int = DEFAULT_BINS,
                  sample: int = DEFAULT_SAMPLE, seed: int = 0,
                  info: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The profile of ``frame`` (the model's training features) and ``scores`` (its scores on
    held-out rows). ``info`` (e.g. the model's file name) is stored as it is."""
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    features = {str(name): column_profile(frame[name], bins, sample, seed + i)
                for i, name in enumerate(frame.columns)}
    score_values = np.asarray(scores, dtype=float).ravel()
    score_rng = np.random.default_rng(seed + len(features))
    return {"version": PROFILE_VERSION, "bins": bins, "rows": len(frame),
            "score_rows": len(score_values), "info": dict(info or {}), "features": features,
            SCORE: _numeric(score_values, bins, sample, score_rng)}


def write_profile(profile: Mapping[str, Any], path: Path) -> Path:
    """Write ``profile`` as JSON (floats rounded to 8 significant digits to keep it small and
    stable from run to run)."""
    def tidy(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.8g}") if math.isfinite(value) else None
        if isinstance(value, dict):
            return {k: tidy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [tidy(v) for v in value]
        return value

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tidy(dict(profile)), separators=(",", ":")) + "\n",
                    encoding="utf-8")
    return path


def load_profile(path: Path) -> dict[str, Any]:
    """Read a profile; UsageError naming the file when it is missing or not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"cannot read the reference profile {path}: {e}") from None
    if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION \
            or not isinstance(data.get("features"), dict):
        raise UsageError(f"{path} is not a reference profile of version {PROFILE_VERSION}")
    return data
