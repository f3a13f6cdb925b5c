"""Recording metrics from a notebook, and the ``metrics.json`` contract every report reads.

Inside ``ds-runner execute`` the kernel inherits ``DS_RUNNER_OUTPUT_DIR``; each ``record*`` call
appends one JSON line to ``<output dir>/records.jsonl`` at once, so values recorded before a crash
survive it. Outside the runner the same calls write to ``.ds-runner/interactive/``. This module must
stay cheap to import: notebooks import it in their first cell.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.paths import OUTPUT_DIR

if TYPE_CHECKING:
    from runner.masking import Masker

OUTPUT_DIR_ENV = "DS_RUNNER_OUTPUT_DIR"
RECORDS_FILE = "records.jsonl"
METRICS_FILE = "metrics.json"
METRICS_REPORT_FILE = "metrics.txt"  # GitLab artifacts:reports:metrics format
FIGURES_DIR = "figures"
SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_.\-/]{1,100}$")

STATUSES = ("success", "failed", "timeout", "kernel_died", "interrupted", "terminated", "error")


def output_dir() -> Path:
    return Path(os.environ.get(OUTPUT_DIR_ENV) or Path(OUTPUT_DIR) / "interactive")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must match {_NAME.pattern}")
    return name


def _append(entry: dict[str, Any]) -> None:
    directory = output_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / RECORDS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def record(name: str, value: float) -> float:
    """Record one numeric metric (the last value recorded under a name wins)."""
    _check_name("metric", name)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {name!r} must be a finite number, got {value!r}")
    _append({"kind": "metric", "name": name, "value": number})
    return number


def record_figure(name: str, fig: Any, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``figures/<name>.png`` and record it."""
    _check_name("figure", name)
    directory = output_dir() / FIGURES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name.replace('/', '_')}.png"
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    _append({"kind": "figure", "name": name, "path": f"{FIGURES_DIR}/{path.name}"})
    return path


def record_info(name: str, value: str) -> str:
    """Record a piece of text for reports: an MLflow run URL, a model path, a data version."""
    _check_name("info", name)
    _append({"kind": "info", "name": name, "value": str(value)})
    return str(value)


def record_check(name: str, passed: bool, value: float | None = None,
                 limit: float | None = None, detail: str = "") -> bool:
    """Record the outcome of one check a notebook ran itself (a data check, a drift test):
    a gate row of its own in every report (``runner.report.gates``)."""
    _check_name("check", name)
    _append({"kind": "check", "name": name, "passed": bool(passed),
             "value": None if value is None else float(value),
             "limit": None if limit is None else float(limit), "detail": str(detail)})
    return bool(passed)


def record_slice_values(name: str, by: str, values: dict[str, float],
                        counts: dict[str, int] | None = None,
                        skipped: dict[str, str] | None = None) -> dict[str, float]:
    """Record a metric per slice of the data (``by`` names the slicing, e.g. ``age_band``);
    slice gates (``gates.slices``) and the reports read it. The last record of a name wins.
    ``skipped`` gives, per slice the metric could not be computed on, the reason."""
    _check_name("metric", name)
    clean = {str(k): float(v) for k, v in values.items()}
    bad = [k for k, v in clean.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"slice {bad[0]!r} of {name!r} must be a finite number")
    _append({"kind": "slices", "name": name, "by": str(by), "values": clean,
             "counts": {str(k): int(v) for k, v in (counts or {}).items()},
             "skipped": {str(k): str(v) for k, v in (skipped or {}).items()}})
    return clean


@dataclass
class Recorded:
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    # check name -> {"passed": bool, "value": float | None, "limit": float | None, "detail": str}
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # metric -> {"by": str, "values": {slice: float}, "counts": {slice: int},
    #            "skipped": {slice: reason}}
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_records(directory: Path) -> Recorded:
    """Collect what a notebook recorded; a torn last line (kernel killed mid-write) is skipped."""
    out = Recorded()
    path = directory / RECORDS_FILE
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind, name = entry.get("kind"), entry.get("name")
        if kind == "metric":
            out.metrics[name] = float(entry["value"])
        elif kind == "figure":
            out.figures[name] = entry["path"]
        elif kind == "info":
            out.info[name] = entry["value"]
        elif kind == "check":
            out.checks[name] = {k: entry.get(k) for k in ("passed", "value", "limit", "detail")}
        elif kind == "slices":
            out.slices[name] = {k: entry.get(k) for k in ("by", "values", "counts", "skipped")}
    return out


def mask_records(directory: Path, masker: Masker) -> None:
    """Mask the values in ``records.jsonl`` in place; kinds, field names and figure paths stay."""
    path = directory / RECORDS_FILE
    if not masker or not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    lines = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            lines.append(masker.mask(line))
            continue
        if isinstance(entry, dict):
            entry = {k: v if k in ("kind", "path") else masker.mask_obj(v, keys=True)
                     for k, v in entry.items()}
        lines.append(json.dumps(entry))
    masked = "".join(f"{line}\n" for line in lines)
    if masked != text:
        path.write_text(masked, encoding="utf-8")


@dataclass
class CellError:
    cell_index: int | None
    ename: str
    evalue: str
    execution_count: int | None = None  # In [n] in the saved notebook


@dataclass
class RunResult:
    """What one notebook run produced: the content of ``metrics.json``.

    Paths in ``figures`` and ``artifacts`` are relative to the notebook's output folder.
    """

    notebook: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    device: str = "cpu"
    parameters: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    git_sha: str | None = None
    error: CellError | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)   # see Recorded
    slices: dict[str, dict[str, Any]] = field(default_factory=dict)   # see Recorded
    schema: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def masked(self, masker: Masker) -> RunResult:
        """A copy with secrets masked in what the notebook and the user supplied (parameter
        values, metric and info names, info values, the error); status, paths and the
        notebook's name are the report's structure and stay."""
        error = self.error and replace(self.error, ename=masker.mask(self.error.ename),
                                       evalue=masker.mask(self.error.evalue))
        return replace(self, error=error,
                       metrics={masker.mask(k): v for k, v in self.metrics.items()},
                       info={masker.mask(k): masker.mask(str(v)) for k, v in self.info.items()},
                       parameters={k: masker.mask_obj(v, keys=True)
                                   for k, v in self.parameters.items()},
                       checks={masker.mask(k): masker.mask_obj(v, keys=True)
                               for k, v in self.checks.items()},
                       slices={masker.mask(k): masker.mask_obj(v, keys=True)
                               for k, v in self.slices.items()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("error"), dict):
            values["error"] = CellError(**values["error"])
        return cls(**values)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / METRICS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")
        tmp.replace(path)
        (directory / METRICS_REPORT_FILE).write_text(metrics_report(self.metrics), "utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> RunResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def metrics_report(metrics: dict[str, float]) -> str:
    """GitLab's ``artifacts:reports:metrics`` text format: ``name value`` per line."""
    return "".join(f"{name} {value:g}\n" for name, value in sorted(metrics.items()))


def find_results(root: Path) -> list[tuple[Path, RunResult]]:
    """Every ``metrics.json`` below ``root`` (the output directory), sorted by notebook path."""
    found = [(p.parent, RunResult.read(p)) for p in Path(root).rglob(METRICS_FILE)]
    return sorted(found, key=lambda item: item[1].notebook)
