"""Data checks on a pandas DataFrame: ``runner.check_data(df, "training", config_path)`` in a
notebook, ``ds-runner check-data`` on a file. Each check becomes a recorded check (a gate row of
the ``data`` gate) with its number in the detail, e.g. "nulls in `age`: 12 > 0".

Plain pandas and numpy, vectorised: every check is one or two column operations (duplicates are
found through pandas' 64-bit row hashes), so 1,000,000 rows x 30 columns take well under a
second, and nothing beyond what the notebooks already import is loaded (docs/gates.md says why
not pandera or Great Expectations).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runner.config import Config
from runner.errors import DataCheckError
from runner.metrics import record_check
from runner.monitor.spec import ALL, DataSpec, check_name, parse_dataset, spec_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result, as recorded: the number it measured and the limit it was held to."""

    name: str                 # data/<dataset>/<check>[/<column>]
    passed: bool
    value: float | None
    limit: float | None
    detail: str


def check_data(df: pd.DataFrame, dataset: str,
               config: str | Path | Config | Mapping[str, Any]) -> list[CheckOutcome]:
    """Run the checks of ``data_checks.<dataset>`` on ``df`` and record each one.

    ``config`` is the notebook's config: its path (a notebook passes ``config_path``), a loaded
    :class:`~runner.config.Config` or a mapping. With ``on_fail: stop`` a failing check raises
    :class:`~runner.errors.DataCheckError` (the notebook's run fails, exit 1) after every check
    of the data set was recorded; with ``on_fail: record`` the failures only fail the gate.
    """
    if isinstance(config, (str, Path)):
        cfg = Config.load(config)
    elif isinstance(config, Config):
        cfg = config
    else:
        cfg = Config(config)
    spec = spec_for(cfg, dataset)
    outcomes = run_checks(df, spec)
    for o in outcomes:
        record_check(o.name, o.passed, o.value, o.limit, o.detail)
    failed = [o for o in outcomes if not o.passed]
    logger.info("data checks of %s: %d of %d passed", dataset, len(outcomes) - len(failed),
                len(outcomes))
    if failed and spec.on_fail == "stop":
        raise DataCheckError(f"{len(failed)} of {len(outcomes)} data checks of {dataset!r} "
                             "failed (on_fail: stop): "
                             + "; ".join(f"{o.name}: {o.detail}" for o in failed))
    return outcomes


def run_checks(df: pd.DataFrame, spec: DataSpec | Mapping[str, Any]) -> list[CheckOutcome]:
    """Every check of ``spec`` (a :class:`DataSpec` or one data set's mapping, e.g.
    ``{"min_rows": 1}``) on ``df``, without recording anything; rows in config order."""
    if not isinstance(spec, DataSpec):
        spec = parse_dataset(Config({"data_checks": {"data": dict(spec)}}), "data")
    return list(_checks(df, spec))


def _checks(df: pd.DataFrame, spec: DataSpec) -> Iterator[CheckOutcome]:
    ds = spec.dataset
    if spec.min_rows is not None:
        n = len(df)
        ok = n >= spec.min_rows
        yield CheckOutcome(check_name(ds, "rows"), ok, n, spec.min_rows,
                           f"rows: {n} {'>=' if ok else '<'} {spec.min_rows}")
    if spec.columns:
        yield _columns(df, ds, spec.columns)
    not_null = list(df.columns) if spec.not_null == ALL else list(spec.not_null)
    if not_null:
        yield _nulls(df, ds, not_null)
    for column, (lo, hi) in spec.ranges.items():
        yield _range(df, ds, column, lo, hi)
    for column, values in spec.allowed.items():
        yield _allowed(df, ds, column, values)
    if spec.max_duplicate_ratio is not None:
        yield _duplicates(df, ds, spec.max_duplicate_ratio)
    if spec.min_class_ratio is not None:
        yield _class_ratio(df, ds, *spec.min_class_ratio)


def _missing(name: str, column: str) -> CheckOutcome:  # a check whose column is absent
    return CheckOutcome(name, False, None, None, f"column `{column}` missing")


def _kind_ok(series: pd.Series, kind: str) -> bool:
    types = pd.api.types
    if kind == "any":
        return True
    if kind == "bool":
        return bool(types.is_bool_dtype(series))
    if kind == "string":
        return bool(types.is_string_dtype(series)) and not types.is_numeric_dtype(series)
    if kind == "datetime":
        return bool(types.is_datetime64_any_dtype(series))
    if types.is_bool_dtype(series) or not types.is_numeric_dtype(series):
        return False
    if kind == "float" or types.is_integer_dtype(series):
        return True
    # int declared, floats found: whole numbers are ints that pandas widened for their nulls
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    values = values[~np.isnan(values)]
    return bool(np.all(np.isfinite(values)) and np.all(values == np.floor(values)))


def _columns(df: pd.DataFrame, ds: str, columns: Mapping[str, str]) -> CheckOutcome:
    problems = [f"`{c}` missing" if c not in df.columns
                else f"`{c}` is {df[c].dtype}, not {kind}"
                for c, kind in columns.items()
                if c not in df.columns or not _kind_ok(df[c], kind)]
    detail = (f"{len(problems)} of {len(columns)} columns: " + ", ".join(problems) if problems
              else f"all {len(columns)} columns present with their kinds")
    return CheckOutcome(check_name(ds, "columns"), not problems, len(problems), 0, detail)


def _nulls(df: pd.DataFrame, ds: str, columns: list[str]) -> CheckOutcome:
    present = [c for c in columns if c in df.columns]
    counts = df[present].isna().sum() if present else pd.Series(dtype="int64")
    bad = {str(c): int(n) for c, n in counts.items() if n}
    missing = [f"`{c}` missing" for c in columns if c not in df.columns]
    total = sum(bad.values())
    parts = [f"`{c}`: {n}" for c, n in sorted(bad.items(), key=lambda kv: -kv[1])]
    if len(parts) > 1:
        parts = [f"nulls in {', '.join(parts)} ({total} > 0)"]
    elif parts:
        parts = [f"nulls in {parts[0]} > 0"]
    detail = "; ".join(parts + missing) or f"nulls in {len(columns)} columns: 0"
    return CheckOutcome(check_name(ds, "nulls"), not bad and not missing, total, 0, detail)


def _range(df: pd.DataFrame, ds: str, column: str, lo: float | None,
           hi: float | None) -> CheckOutcome:
    name = check_name(ds, "range", column)
    if column not in df.columns:
        return _missing(name, column)
    series = df[column]
    bounds = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return CheckOutcome(name, False, None, 0,
                            f"`{column}` is {series.dtype}, not numbers to hold to {bounds}")
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    outside = np.zeros(len(values), dtype=bool)
    if lo is not None:
        outside |= values < lo
    if hi is not None:
        outside |= values > hi
    count = int(outside.sum())
    seen = f" (min {np.nanmin(values):g}, max {np.nanmax(values):g})" if count else ""
    return CheckOutcome(name, count == 0, count, 0,
                        f"rows of `{column}` outside {bounds}: {count}{seen}")


def _allowed(df: pd.DataFrame, ds: str, column: str, values: tuple[Any, ...]) -> CheckOutcome:
    name = check_name(ds, "allowed", column)
    if column not in df.columns:
        return _missing(name, column)
    series = df[column]
    bad = series.notna() & ~series.isin(list(values))
    count = int(bad.sum())
    shown = ", ".join(map(str, values))
    if not count:
        return CheckOutcome(name, True, 0, 0, f"every value of `{column}` in {{{shown}}}")
    new = series[bad].drop_duplicates().head(5).tolist()
    return CheckOutcome(name, False, count, 0,
                        f"rows of `{column}` not in {{{shown}}}: {count} "
                        f"(e.g. {', '.join(map(repr, new))})")


def _duplicates(df: pd.DataFrame, ds: str, limit: float) -> CheckOutcome:
    n = len(df)
    count = int(pd.util.hash_pandas_object(df, index=False).duplicated().sum()) if n else 0
    ratio = count / n if n else 0.0
    ok = ratio <= limit
    return CheckOutcome(check_name(ds, "duplicates"), ok, ratio, limit,
                        f"duplicate rows: {ratio:.4g} {'<=' if ok else '>'} {limit:g} "
                        f"({count} of {n})")


def _class_ratio(df: pd.DataFrame, ds: str, column: str, limit: float) -> CheckOutcome:
    name = check_name(ds, "class_ratio", column)
    if column not in df.columns:
        return _missing(name, column)
    shares = df[column].value_counts(normalize=True, dropna=True)
    if len(shares) < 2:
        return CheckOutcome(name, False, None, limit,
                            f"`{column}` has {len(shares)} class(es); a ratio needs 2 or more")
    rarest, share = shares.index.tolist()[-1], float(shares.iloc[-1])
    ok = share >= limit
    return CheckOutcome(name, ok, share, limit,
                        f"rarest class of `{column}` ({rarest!r}): {share:.4g} "
                        f"{'>=' if ok else '<'} {limit:g}")
