"""A notebook's output folder: where it is, clearing a previous run's files, writing the executed
notebook with secrets masked, and turning what the notebook recorded into ``metrics.json``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from runner.execute.parameters import INJECTED_TAG
from runner.masking import Masker
from runner.metrics import METRICS_REPORT_FILE, RunResult, mask_records, read_records
from runner.paths import NOTEBOOK_SUFFIX, notebook_stem


def notebook_output_dir(output_dir: Path, notebook: str) -> Path:
    """``<output_dir>/<repository path without .ipynb>``, e.g. ``.ds-runner/notebooks/train``."""
    return Path(output_dir).joinpath(*PurePosixPath(notebook_stem(notebook)).parts)


def clear_stale(folder: Path, nested_sources: Path) -> None:
    """Remove a previous run's files from ``folder``.

    Sub-folders that belong to another notebook (``notebooks/a/b.ipynb`` writes into
    ``.ds-runner/notebooks/a/b/``, inside the folder of ``notebooks/a.ipynb``) are kept.
    """
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if (nested_sources / entry.name).is_dir() or \
                    (nested_sources / f"{entry.name}{NOTEBOOK_SUFFIX}").is_file():
                continue
            shutil.rmtree(entry)
        else:
            entry.unlink()


class NotebookWriter:
    """Saves the notebook (papermill calls it around every cell) with secrets masked.

    The ``injected-parameters`` cell is rewritten from the masked parameter values, so secret
    parameters never reach the file, whatever their length.
    """

    def __init__(self, path: Path, masker: Masker, kernel_name: str, language: str,
                 shown_parameters: dict[str, Any]) -> None:
        from runner.execute.parameters import injected_source

        self.path = path
        self.masker = masker
        self.injected = injected_source(kernel_name, language, shown_parameters)
        self.last: Any = None  # the last masked notebook written

    def masked(self, nb: Any) -> Any:
        import nbformat

        nbf: Any = nbformat
        copy = nbf.from_dict(self.masker.mask_notebook(nb))
        for cell in copy.cells:
            if INJECTED_TAG in cell.get("metadata", {}).get("tags", []):
                cell.source = self.injected
        return copy

    def __call__(self, nb: Any) -> None:
        import nbformat

        nbf: Any = nbformat
        self.last = self.masked(nb)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(nbf.writes(self.last), encoding="utf-8")
        tmp.replace(self.path)


# The job that ran the notebook: the comment, wiki and release jobs link to its artifacts.
CI_INFO = {"job_url": "CI_JOB_URL", "job_id": "CI_JOB_ID", "job_name": "CI_JOB_NAME",
           "pipeline_url": "CI_PIPELINE_URL", "pipeline_id": "CI_PIPELINE_ID"}


def finish_result(result: RunResult, folder: Path, notebook_file: str,
                  masker: Masker, content_key: str = "") -> RunResult:
    """Add what the notebook recorded, mask everything, write metrics.json and metrics.txt.
    ``content_key`` is the runner's (runner.detect.contentkey): it wins over a notebook's own."""
    mask_records(folder, masker)
    recorded = read_records(folder)
    result.metrics, result.figures, result.info = (recorded.metrics, recorded.figures,
                                                   recorded.info)
    result.checks, result.slices = recorded.checks, recorded.slices
    for key, variable in CI_INFO.items():  # where the reports link to; the notebook's own win
        if os.environ.get(variable):
            result.info.setdefault(key, os.environ[variable])
    if content_key:
        result.info["content_key"] = content_key
    result.artifacts = {"notebook": notebook_file, "metrics_report": METRICS_REPORT_FILE}
    masked = result.masked(masker)
    masked.write(folder)
    return masked
