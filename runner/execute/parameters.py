"""A notebook's ``parameters`` cell: what it declares, and turning ``-p NAME VALUE`` strings into
values of the declared type.

Inspection uses papermill's translator for the notebook's language (a regex over the cell source:
no kernel is started). A value is coerced to the type of the annotation (``epochs: int = 10``) or,
without one, to the type of the default's literal (``rate = 0.5`` -> float). Defaults that are not
literals (``None``, ``os.environ[...]``) get papermill's own ``-p`` rule: int, float, True/False/
None, else the string.
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from runner.errors import UsageError

# papermill's cell tags: the notebook's parameters cell, the cell papermill (and ds-runner) injects
# after it, and the marker cells of a failed run, which papermill drops when a notebook is re-run
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
ERROR_CELL_TAG = "papermill-error-cell-tag"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_ANNOTATIONS: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str,
                                 "list": list, "dict": dict, "tuple": tuple}
_KIND_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping", tuple: "a list"}


@dataclass(frozen=True)
class Declared:
    """One name assigned in the parameters cell."""

    name: str
    kind: type | None  # None: no usable annotation and the default is not a literal
    default: str  # the source text of the default
    optional: bool = False  # annotated Optional[...] or defaulting to None


logger = logging.getLogger(__name__)

class Unchecked(dict[str, "Declared"]):
    """A parameters cell in a language papermill cannot inspect (R, Julia, ...): its names are
    unknown, so passed parameters cannot be checked and are converted as ``papermill -p`` does."""


def parameters_cell_index(nb: Any) -> int | None:
    for index, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def declared_parameters(nb: Any, kernel_name: str, language: str) -> dict[str, Declared] | None:
    """The parameters the notebook declares; ``None`` when it has no ``parameters`` cell."""
    index = parameters_cell_index(nb)
    if index is None:
        return None
    from papermill.translators import papermill_translators

    translator = papermill_translators.find_translator(kernel_name, language)
    try:
        found = translator.inspect(nb.cells[index])
    except NotImplementedError:  # papermill's Translator.inspect for languages it cannot parse
        return Unchecked()
    return {p.name: _declared(p.name, p.inferred_type_name, p.default) for p in found}


def _declared(name: str, annotation: str, default: str) -> Declared:
    kind, optional = _annotation_kind(annotation)
    try:
        literal = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Declared(name, kind, default, optional)
    if literal is None:
        return Declared(name, kind, default, True)
    if kind is None:
        kind = type(literal) if type(literal) in _KIND_NAMES else None
    return Declared(name, kind, default, optional)


def _annotation_kind(annotation: str) -> tuple[type | None, bool]:
    text = (annotation or "").strip()
    if text in ("", "None", "NoneType"):
        return None, False
    optional = text.startswith("Optional[")
    if optional:
        text = text[len("Optional["):].rstrip("]")
    base = text.split("[", 1)[0].strip().lower()
    return _ANNOTATIONS.get(base), optional


def coerce(value: Any, declared: Declared, where: str) -> Any:
    """``value`` (a ``-p`` string, or a YAML value from ``-f``/``-y``) as the declared type; a
    UsageError naming the parameter if it does not fit."""
    if not isinstance(value, str):
        return _coerce_yaml(value, declared, where)
    if declared.optional and value.strip().lower() in ("none", "null", "~"):
        return None
    kind = declared.kind
    if kind is None:
        return _papermill_rule(value)
    try:
        return _COERCERS[kind](value)
    except (ValueError, yaml.YAMLError):
        raise _mismatch(value, kind, declared, where) from None


def _coerce_yaml(value: Any, declared: Declared, where: str) -> Any:
    """A value YAML already typed: kept as it is when nothing is declared, structures checked,
    scalars coerced from their text like a ``-p`` value (``5`` for ``rate = 0.5`` is ``5.0``)."""
    kind = declared.kind
    if kind is None or (value is None and declared.optional):
        return value
    if isinstance(value, list) and kind in (list, tuple):
        return tuple(value) if kind is tuple else value
    if isinstance(value, dict) and kind is dict:
        return value
    if isinstance(value, (list, dict)):
        raise _mismatch(value, kind, declared, where)
    return coerce(str(value), declared, where)


def _mismatch(value: Any, kind: type, declared: Declared, where: str) -> UsageError:
    example = " (YAML/JSON, e.g. [1, 2])" if kind in (list, tuple) else (
        " (YAML/JSON, e.g. {a: 1})" if kind is dict else "")
    return UsageError(f"{where}: parameter '{declared.name}' expects {_KIND_NAMES[kind]}"
                      f"{example} like its default {declared.default}, got {value!r}")


def _to_bool(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _to_int(value: str) -> int:
    return int(value.strip())


def _to_float(value: str) -> float:
    number = float(value.strip())
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_structure(kind: type) -> Any:
    def parse(value: str) -> Any:
        data = yaml.safe_load(value)
        wanted = list if kind is tuple else kind
        if not isinstance(data, wanted):
            raise ValueError(value)
        return tuple(data) if isinstance(data, list) and kind is tuple else data

    return parse


_COERCERS: dict[type, Any] = {bool: _to_bool, int: _to_int, float: _to_float, str: str,
                              list: _to_structure(list), dict: _to_structure(dict),
                              tuple: _to_structure(tuple)}


def _papermill_rule(value: str) -> Any:
    """What ``papermill -p`` does with a raw string."""
    constants: dict[str, Any] = {"True": True, "False": False, "None": None}
    if value in constants:
        return constants[value]
    for number in (int, float):
        try:
            return number(value)
        except ValueError:
            continue
    return value


def resolve(where: str, declared: dict[str, Declared] | None,
            raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check every passed name against the declaration and coerce its value."""
    if not raw:
        return {}
    if declared is None:
        names = ", ".join(sorted(raw))
        raise UsageError(f"{where}: has no cell tagged 'parameters', so it cannot take "
                         f"parameters ({names}); tag the cell that assigns them")
    if isinstance(declared, Unchecked):
        logger.warning("%s: papermill cannot read this language's parameters cell, so %s "
                       "cannot be checked against it", where, ", ".join(sorted(raw)))
        return {name: _papermill_rule(value) if isinstance(value, str) else value
                for name, value in raw.items()}
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise UsageError(f"{where}: unknown parameter {', '.join(map(repr, unknown))} "
                         f"(the parameters cell declares: {known})")
    return {name: coerce(value, declared[name], where) for name, value in raw.items()}


def injected_source(kernel_name: str, language: str, parameters: Mapping[str, Any]) -> str:
    """The source papermill puts in the ``injected-parameters`` cell for these values."""
    from papermill.translators import translate_parameters

    return str(translate_parameters(kernel_name, language, dict(parameters), "Parameters"))
