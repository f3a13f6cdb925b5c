"""Configuration files: loading, typed look-ups whose errors name the key, metric directions;
parameter files (``-f``/``-y``) merged in papermill's order."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from runner.errors import ConfigError, UsageError

TRAINING_CONFIG = "training_config.yaml"
INFERENCE_CONFIG = "inference_config.yaml"
_INFERENCE_NAME = re.compile(r"infer|scor|predict", re.IGNORECASE)
T = TypeVar("T")
_MISSING: Any = object()
_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               dict: "a mapping", list: "a list"}


def load_yaml(path: str | Path, what: str = "config file",
              loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """Read a YAML mapping; every failure is a ConfigError that names the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: cannot read {what}: not UTF-8 text ({e.reason})") from e
    return _mapping(text, str(path), loader)


def _mapping(text: str, source: str, loader: type[yaml.SafeLoader]) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=loader)  # loader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{source}: invalid YAML{where}: {problem}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    return data


def parameter_values(files: Iterable[str | Path], texts: Iterable[str],
                     pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parameters as ``papermill`` merges them: every ``-f`` file in order, then every ``-y``
    YAML string, then ``-p NAME VALUE``; a later source wins a name. File and YAML values keep
    their YAML types (dates stay strings, as papermill reads them); ``-p`` values stay strings
    for ``runner.execute.parameters`` to coerce. Bad files and strings raise ConfigError
    (exit 2). papermill is imported only for files and YAML strings: a single notebook's
    kernel starts before papermill is imported (``runner.execute.kernels.start_kernel``)."""
    files, texts = list(files), list(texts)
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if files or texts:
        from runner.execute.engine import import_papermill

        import_papermill()
        from papermill.iorw import NoDatesSafeLoader

        sources += [(f"--parameters-file {path}", load_yaml(path, "parameters file",
                                                            NoDatesSafeLoader))
                    for path in files]
        sources += [(f"--parameters-yaml {text!r}",
                     _mapping(text, f"--parameters-yaml {text!r}", NoDatesSafeLoader))
                    for text in texts]
    merged: dict[str, Any] = {}
    for source, values in sources:
        bad = [repr(name) for name in values if not isinstance(name, str)]
        if bad:
            raise UsageError(f"{source}: parameter names must be strings, got {', '.join(bad)}")
        merged.update(values)
    merged.update(pairs)
    return merged


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
