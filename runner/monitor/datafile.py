"""Data checks on a file (``ds-runner check-data``): read a CSV or Parquet file the way a notebook
would (``pandas.read_csv`` / ``read_parquet``), then run one data set's checks on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from runner.config import Config
from runner.errors import UsageError
from runner.monitor.checks import CheckOutcome, run_checks
from runner.monitor.spec import KEY, declared

PARQUET = (".parquet", ".pq")


@dataclass(frozen=True)
class FileChecks:
    dataset: str
    rows: int
    outcomes: list[CheckOutcome]

    @property
    def failed(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.passed]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file (by its suffix) as a DataFrame; UsageError (exit 2) if unreadable."""
    try:
        if path.suffix.lower() in PARQUET:
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: data file not found") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        kind = "Parquet" if path.suffix.lower() in PARQUET else "CSV"
        raise UsageError(f"{path}: cannot read as {kind}: {e}") from e


def check_file(path: Path, config: Path, dataset: str | None = None) -> FileChecks:
    """The checks of ``data_checks.<dataset>`` in ``config`` on the file; ``dataset`` may be left
    out when the config declares exactly one data set."""
    cfg = Config.load(config)
    specs = declared(cfg)
    if dataset is None:
        if len(specs) != 1:
            names = ", ".join(specs) or f"none: the config has no '{KEY}:'"
            raise UsageError(f"{config}: name the data set to check with --dataset "
                             f"(declared under '{KEY}': {names})")
        dataset = next(iter(specs))
    if dataset not in specs:
        raise UsageError(f"{config}: no data set '{KEY}.{dataset}' "
                         f"(declared: {', '.join(specs) or 'none'})")
    frame = read_table(path)
    return FileChecks(dataset, len(frame), run_checks(frame, specs[dataset]))
