"""The drift trend on a scheduled notebook's wiki page, built run by run from the page's rows."""

from __future__ import annotations

from pathlib import Path

from runner.masking import masker_for
from runner.metrics import RunResult
from runner.report.pages import FolderStore, RunLog
from runner.report.render import RunContext, metrics_inline
from runner.report.trend import decode, encode, render_trend, trend_data
from runner.report.wiki_pages import Layout

NB = "notebooks/score.ipynb"


def run(when: str, score_psi: float, worst: float) -> RunResult:
    return RunResult(NB, "success", started_at=when, metrics={
        "rows_scored": 569.0, "positive_rate": 0.63, "drift/score_psi": score_psi,
        "drift/score_ks_p": 0.5, "drift/psi_max": worst, "drift/psi/mean_radius": worst,
        "drift/ks_p/mean_radius": 0.9})


def test_rows_carry_the_trend_and_the_page_draws_it_oldest_first(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    log = RunLog(store, masker_for(), Layout(prefix=""))
    for i, (score, worst) in enumerate([(0.05, 0.01), (0.37, 3.17), (0.04, 0.02)]):
        log.record([run(f"2026-11-2{i}T10:00:00Z", score, worst)], RunContext(pipeline_id=str(i)))
    page = store.read("notebooks/score") or ""
    trend, runs = page.split("| Time (UTC) | Pipeline |")
    assert "## Trend" in trend and "last 3 runs, oldest first" in trend
    table = [line for line in trend.splitlines() if line.startswith("| 2026")]
    assert table == ["| 2026-11-20 10:00:00 | 0.05 | 0.01 | 569 | 0.63 |",
                     "| 2026-11-21 10:00:00 | 0.37 | 3.17 | 569 | 0.63 |",
                     "| 2026-11-22 10:00:00 | 0.04 | 0.02 | 569 | 0.63 |"]
    assert "| score PSI | worst feature PSI | `rows_scored` | `positive_rate` |" in trend
    assert "```mermaid\nxychart-beta\n" in trend
    assert '    x-axis ["11-20 10:00", "11-21 10:00", "11-22 10:00"]' in trend
    assert "    line [0.05, 0.37, 0.04]\n    line [0.01, 3.17, 0.02]" in trend
    assert "mean_radius 3.17" not in runs           # per-feature drift stays out of the lists
    assert "Most drifted features in the latest run (PSI): `mean_radius` 0.02." in trend


def test_runs_without_drift_get_no_trend() -> None:
    assert trend_data({"auc": 0.97}) is None and encode(None) == ""
    assert render_trend([]) == ""


def test_the_hidden_data_cannot_close_its_comment_and_reads_back() -> None:
    data = {"drift/score_psi": 0.1, "a--b>c": 2.0}
    text = encode(data)
    assert text.count("-->") == 1 and text.endswith(" -->")
    assert decode(f"| x{text} |") == data
    assert decode("| no data |") is None


def test_inline_metrics_leave_out_per_feature_drift() -> None:
    assert metrics_inline({"rows": 1.0, "drift/psi/a": 0.2, "drift/psi_max": 0.2}) == (
        "rows 1, drift/psi_max 0.2")
