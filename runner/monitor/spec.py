"""``data_checks:`` in a notebook's config: what each data set must look like, parsed and checked
once so that a typo fails with the key's name before any data is read. No pandas here: the
report's data gate (``runner.report.gates.data``) reads the declared data sets too.

```yaml
data_checks:
  training:                        # the name runner.check_data(df, "training", cfg) uses
    on_fail: record                # record (default): gate rows only; stop: also raise at once
    min_rows: 100
    columns: {mean radius: float, target: int}   # required columns and their kinds
    not_null: [target, mean radius]              # or `all`: every column of the data
    ranges: {mean radius: {min: 0, max: 50}}     # inclusive; min, max or both
    allowed: {target: [0, 1]}                    # the only values a column may hold
    max_duplicate_ratio: 0.01                    # share of rows that repeat an earlier row
    min_class_ratio: {column: target, min: 0.2}  # share of the rarest value of a column
```
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.config import Config
from runner.errors import ConfigError

KEY = "data_checks"
ON_FAIL = ("record", "stop")
# int: integer values (a float column of whole numbers counts, as pandas reads an int column with
# nulls); float: any number; string: text; any: present, whatever its kind.
KINDS = ("int", "float", "bool", "string", "datetime", "any")
ALL = "all"
_KEYS = ("on_fail", "min_rows", "columns", "not_null", "ranges", "allowed",
         "max_duplicate_ratio", "min_class_ratio")
_SCALARS = (str, int, float, bool)
_DATASET = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True)
class DataSpec:
    """The checks of one data set (``data_checks.<dataset>``)."""

    dataset: str
    on_fail: str = "record"
    min_rows: int | None = None
    columns: Mapping[str, str] = field(default_factory=dict)       # column -> kind
    not_null: tuple[str, ...] | str = ()                          # columns, or ALL
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    allowed: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    max_duplicate_ratio: float | None = None
    min_class_ratio: tuple[str, float] | None = None               # (column, minimum share)


def declared(cfg: Config) -> dict[str, DataSpec]:
    """Every data set under ``data_checks:`` (none when the key is absent), validated."""
    if cfg.data.get(KEY) is None:
        return {}
    block = cfg.get(KEY, dict)
    for name in block:
        if not isinstance(name, str) or not _DATASET.match(name):
            raise ConfigError(f"{cfg.source}: '{KEY}.{name}' must be named with letters, "
                              "digits, '_' or '-'")
    return {name: parse_dataset(cfg, name) for name in block}


def spec_for(cfg: Config, dataset: str) -> DataSpec:
    """The checks of ``dataset``; a ConfigError naming ``data_checks.<dataset>`` if undeclared."""
    specs = declared(cfg)
    if dataset not in specs:
        known = ", ".join(specs) or "none"
        raise ConfigError(f"{cfg.source}: missing required key '{KEY}.{dataset}' "
                          f"(data sets declared: {known})")
    return specs[dataset]


def parse_dataset(cfg: Config, dataset: str) -> DataSpec:
    key = f"{KEY}.{dataset}"
    block = cfg.get(key, dict)
    for name in block:
        if name not in _KEYS:
            raise ConfigError(f"{cfg.source}: unknown key '{key}.{name}' "
                              f"(expected {', '.join(_KEYS)})")
    min_rows = cfg.get(f"{key}.min_rows", int, None)
    ratio = cfg.get(f"{key}.max_duplicate_ratio", float, None)
    if min_rows is not None and min_rows < 0:
        raise ConfigError(f"{cfg.source}: '{key}.min_rows' must be >= 0, got {min_rows}")
    if ratio is not None:
        _share(cfg, f"{key}.max_duplicate_ratio", ratio)
    return DataSpec(
        dataset=dataset,
        on_fail=cfg.get(f"{key}.on_fail", str, "record", choices=ON_FAIL),
        min_rows=min_rows,
        columns={c: _kind(cfg, f"{key}.columns.{c}", kind)
                 for c, kind in _mapping(cfg, f"{key}.columns", block.get("columns")).items()},
        not_null=_not_null(cfg, f"{key}.not_null", block.get("not_null")),
        ranges={str(c): _range(cfg, f"{key}.ranges.{c}", limits)
                for c, limits in _mapping(cfg, f"{key}.ranges", block.get("ranges")).items()},
        allowed={str(c): _values(cfg, f"{key}.allowed.{c}", values)
                 for c, values in _mapping(cfg, f"{key}.allowed", block.get("allowed")).items()},
        max_duplicate_ratio=ratio,
        min_class_ratio=_class_ratio(cfg, f"{key}.min_class_ratio", block.get("min_class_ratio")),
    )


def _mapping(cfg: Config, key: str, value: Any) -> dict[str, Any]:
    # Keys are read one by one, not through Config.get, because column names may hold dots.
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{cfg.source}: '{key}' must be a mapping, got {value!r}")
    return {str(k): v for k, v in value.items()}


def _kind(cfg: Config, key: str, value: Any) -> str:
    if value not in KINDS:
        raise ConfigError(f"{cfg.source}: '{key}' must be one of {', '.join(KINDS)}, "
                          f"got {value!r}")
    return str(value)


def _not_null(cfg: Config, key: str, value: Any) -> tuple[str, ...] | str:
    if value is None:
        return ()
    if value == ALL:
        return ALL
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ConfigError(f"{cfg.source}: '{key}' must be a list of column names or "
                          f"'{ALL}', got {value!r}")
    return tuple(value)


def _number(cfg: Config, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{cfg.source}: '{key}' must be a number, got {value!r}")
    return float(value)


def _share(cfg: Config, key: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{cfg.source}: '{key}' must be between 0 and 1, got {value!r}")
    return value


def _range(cfg: Config, key: str, limits: Any) -> tuple[float | None, float | None]:
    if not isinstance(limits, Mapping) or not limits or set(limits) - {"min", "max"}:
        raise ConfigError(f"{cfg.source}: '{key}' must be a mapping with 'min' and/or 'max', "
                          f"got {limits!r}")
    lo = _number(cfg, f"{key}.min", limits["min"]) if "min" in limits else None
    hi = _number(cfg, f"{key}.max", limits["max"]) if "max" in limits else None
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"{cfg.source}: '{key}' has min {lo:g} above max {hi:g}")
    return lo, hi


def _values(cfg: Config, key: str, values: Any) -> tuple[Any, ...]:
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, _SCALARS) for v in values)):
        raise ConfigError(f"{cfg.source}: '{key}' must be a non-empty list of values "
                          f"(strings, numbers or booleans), got {values!r}")
    return tuple(values)


def _class_ratio(cfg: Config, key: str, value: Any) -> tuple[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"column", "min"}:
        raise ConfigError(f"{cfg.source}: '{key}' must be a mapping like "
                          f"{{column: target, min: 0.2}}, got {value!r}")
    if not isinstance(value["column"], str) or not value["column"]:
        raise ConfigError(f"{cfg.source}: '{key}.column' must be a column name, "
                          f"got {value['column']!r}")
    return value["column"], _share(cfg, f"{key}.min", _number(cfg, f"{key}.min", value["min"]))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def check_name(dataset: str, check: str, column: str | None = None) -> str:
    """The recorded name of a check, stable across runs: ``data/<dataset>/<check>[/<column>]``,
    with characters a record name cannot hold (spaces, slashes) replaced by ``_``."""
    parts = ["data", dataset, check] + ([column] if column is not None else [])
    return "/".join(_UNSAFE.sub("_", p).strip("_") or "_" for p in parts)[:100]
