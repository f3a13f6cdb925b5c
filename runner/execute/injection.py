"""What a notebook receives: the runner's ``config_path``/``device``/``output_dir`` plus the user's
checked ``-p`` values, injected as papermill does (an ``injected-parameters`` cell after the
``parameters`` cell, or at the top when there is none)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.config import default_config_for, load_yaml
from runner.errors import ConfigError, UsageError
from runner.execute.parameters import (
    ERROR_CELL_TAG,
    INJECTED_TAG,
    Declared,
    injected_source,
    parameters_cell_index,
    resolve,
)

logger = logging.getLogger(__name__)

RUNNER_PARAMETERS = ("config_path", "device", "output_dir")
_HOW_TO_SET = {"config_path": "--config", "device": "the DS_DEVICE variable",
               "output_dir": "--output-dir"}


def prepare_parameters(where: str, declared: dict[str, Declared] | None,
                       values: Mapping[str, Any], secrets: Mapping[str, str],
                       ) -> tuple[dict[str, Any], set[str]]:
    """The user's parameters, checked against the parameters cell and coerced; secret names."""
    both = sorted(set(values) & set(secrets))
    if both:
        raise UsageError(f"{where}: {', '.join(both)} given both as -p and --secret-parameter")
    for name in [*values, *secrets]:
        if name in RUNNER_PARAMETERS:
            raise UsageError(f"{where}: '{name}' is set by ds-runner; use {_HOW_TO_SET[name]}")
    checked = resolve(where, declared, {**values, **secrets})  # refuses values with no cell
    if declared is None:
        logger.warning("%s: no cell tagged 'parameters'; the runner's parameters are injected at "
                       "the top (tag the cell that assigns them to declare them)", where)
    return checked, set(secrets)


def resolve_config(where: str, nb: Any, repo: Path, explicit: str | None,
                   declared: bool) -> str:
    """The ``config_path`` value: ``--config`` or the notebook's default, checked to be valid YAML.

    Relative paths are taken from the repository (the kernel's working directory). A missing
    default is only an error when the parameters cell declares ``config_path``.
    """
    name = explicit or default_config_for(where, nb.metadata)
    path = Path(name) if Path(name).is_absolute() else repo / name
    if path.is_file():
        load_yaml(path)  # raises ConfigError naming the file and the problem
    elif explicit:
        raise ConfigError(f"{explicit}: config file not found (relative to {repo})")
    elif declared:
        raise ConfigError(f"{where}: its config file {name} was not found in {repo}; "
                          "add it or pass --config")
    else:
        logger.debug("%s: default config %s does not exist (not declared by the notebook)",
                     where, name)
    try:
        return path.resolve().relative_to(repo).as_posix()
    except ValueError:
        return str(path.resolve())


def inject_parameters(nb: Any, kernel_name: str, language: str,
                      parameters: Mapping[str, Any]) -> Any:
    """Insert (or replace) the ``injected-parameters`` cell in place; drop old error markers."""
    import nbformat

    nbf: Any = nbformat
    cell = nbf.v4.new_code_cell(injected_source(kernel_name, language, parameters))
    cell.metadata["tags"] = [INJECTED_TAG]
    cells = [c for c in nb.cells if ERROR_CELL_TAG not in c.get("metadata", {}).get("tags", [])]
    old = [i for i, c in enumerate(cells) if INJECTED_TAG in c.metadata.get("tags", [])]
    anchor = parameters_cell_index(nbf.from_dict({"cells": cells}))
    if old:
        cells[old[0]] = cell
    elif anchor is not None:
        cells.insert(anchor + 1, cell)
    else:
        cells.insert(0, cell)
    nb.cells = cells
    return nb
