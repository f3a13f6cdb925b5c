"""Configuration files: loading, typed look-ups whose errors name the key, metric directions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from runner.errors import ConfigError

TRAINING_CONFIG = "training_config.yaml"
INFERENCE_CONFIG = "inference_config.yaml"
_INFERENCE_NAME = re.compile(r"infer|scor|predict", re.IGNORECASE)
T = TypeVar("T")
_MISSING: Any = object()
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               dict: "a mapping", list: "a list"}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; every failure is a ConfigError that names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


class Config:
    """A loaded config file with ``get("optuna.n_trials", int)`` look-ups that name the key."""

    def __init__(self, data: Mapping[str, Any], source: str = "config") -> None:
        self.data = dict(data)
        self.source = source

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls(load_yaml(path), str(path))

    def get(self, key: str, kind: type[T], default: Any = _MISSING,
            choices: tuple[Any, ...] | None = None) -> T:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is _MISSING:
                    raise ConfigError(f"{self.source}: missing required key '{key}'")
                return default  # type: ignore[no-any-return]
            node = node[part]
        return self._check(key, node, kind, choices)

    def _check(self, key: str, value: Any, kind: type[T], choices: tuple[Any, ...] | None) -> T:
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            wanted = _TYPE_NAMES.get(kind, kind.__name__)
            raise ConfigError(f"{self.source}: '{key}' must be {wanted}, got {value!r}")
        if choices is not None and value not in choices:
            options = ", ".join(map(str, choices))
            raise ConfigError(f"{self.source}: '{key}' must be one of {options}, got {value!r}")
        return value  # type: ignore[no-any-return]


def metric_directions(data: Mapping[str, Any], source: str = "config") -> dict[str, str]:
    """``metrics: {name: {direction: lower|higher}}`` from a config; unlisted metrics are higher."""
    cfg = Config(data, source)
    out: dict[str, str] = {}
    for name in cfg.get("metrics", dict, {}):
        out[str(name)] = cfg.get(f"metrics.{name}.direction", str, "higher",
                                 choices=("higher", "lower"))
    return out


def default_config_for(notebook: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The config file a notebook gets as ``config_path`` unless overridden.

    Notebook metadata ``{"ds_runner": {"config": "path.yaml"}}`` wins; otherwise notebooks whose
    name says inference/scoring/predict get ``inference_config.yaml``, all others
    ``training_config.yaml`` (the handbook's two configs).
    """
    explicit = ((metadata or {}).get("ds_runner") or {}).get("config")
    if isinstance(explicit, str) and explicit:
        return explicit
    return INFERENCE_CONFIG if _INFERENCE_NAME.search(Path(notebook).name) else TRAINING_CONFIG
