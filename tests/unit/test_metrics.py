from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import record, record_info
from runner.metrics import (
    METRICS_REPORT_FILE,
    OUTPUT_DIR_ENV,
    STATUSES,
    CellError,
    RunResult,
    find_results,
    metrics_report,
    read_records,
)
from runner.report.render import STATUS_ICONS, status_badge


def test_record_appends_and_last_value_wins(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    record("auc", 0.9)
    record("auc", 0.95)
    record_info("mlflow_run_id", "abc")
    got = read_records(tmp_path)
    assert got.metrics == {"auc": 0.95}
    assert got.info == {"mlflow_run_id": "abc"}


def test_record_outside_runner_uses_interactive_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OUTPUT_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    record("f1", 1)
    assert read_records(tmp_path / ".ds-runner" / "interactive").metrics == {"f1": 1.0}


@pytest.mark.parametrize("name,value", [("bad name", 1), ("", 1), ("ok", float("nan")),
                                        ("ok", float("inf")), ("ok", "abc")])
def test_record_rejects_bad_names_and_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> None:
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError):
        record(name, value)  # type: ignore[arg-type]


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "records.jsonl").write_text(
        '{"kind": "metric", "name": "a", "value": 1}\n{"kind": "metr', "utf-8")
    assert read_records(tmp_path).metrics == {"a": 1.0}


def test_run_result_round_trip_and_report(tmp_path: Path) -> None:
    result = RunResult(notebook="notebooks/x.ipynb", status="failed", metrics={"auc": 0.5, "n": 3},
                       error=CellError(cell_index=4, ename="ValueError", evalue="boom"))
    path = result.write(tmp_path / "notebooks" / "x")
    again = RunResult.read(path)
    assert again == result
    assert json.loads(path.read_text())["error"]["cell_index"] == 4
    assert (path.parent / METRICS_REPORT_FILE).read_text() == "auc 0.5\nn 3\n"
    assert [r.notebook for _, r in find_results(tmp_path)] == ["notebooks/x.ipynb"]


def test_metrics_report_is_sorted_gitlab_format() -> None:
    assert metrics_report({"b": 2.0, "a": 0.125}) == "a 0.125\nb 2\n"


def test_every_status_has_an_icon() -> None:
    """The outcomes a run can end with (exit codes, SIGINT/SIGTERM included) are all known
    statuses, and each gets its own icon in the reports rather than the unknown one."""
    from runner.errors import STATUS_CODES

    assert set(STATUS_CODES) <= set(STATUSES)
    assert set(STATUS_ICONS) == set(STATUSES)
    assert status_badge("interrupted") == "🛑 interrupted"
    assert status_badge("terminated") == "🛑 terminated"
