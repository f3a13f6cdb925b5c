"""Per-slice metrics: ``runner.record_slices``, the ``gates.slices`` gate and the worst slice in
the metrics table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from runner import record_slices
from runner.errors import ConfigError
from runner.metrics import RunResult, read_records
from runner.report.comment_body import render_comment
from runner.report.gates import evaluate, failed, parse_gates
from runner.report.gates.slices import SliceLimit
from runner.report.render import NotebookReport, RunContext, metrics_table


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DS_RUNNER_OUTPUT_DIR", str(tmp_path))
    return tmp_path


def _frame() -> pd.DataFrame:
    """Three bands (categories in order, one empty) with scores that separate each band."""
    rng = np.random.default_rng(7)
    band = pd.Categorical(["small"] * 40 + ["large"] * 30 + ["medium"] * 5,
                          categories=["small", "medium", "large", "huge"])
    y = np.r_[rng.integers(0, 2, 40), np.ones(30, dtype=int), [0, 1, 0, 1, 1]]
    score = np.clip(y * 0.6 + rng.random(75) * 0.5, 0, 1)
    return pd.DataFrame({"band": band, "y": y, "score": score})


def test_record_slices_scores_each_slice_and_counts_rows(out: Path) -> None:
    df = _frame()
    got = record_slices("auc", by="band", data=df, y_true="y", y_score="score")

    small = df[df.band == "small"]
    assert got["small"] == pytest.approx(roc_auc_score(small.y, small.score))
    assert list(got.index) == ["small", "medium", "large", "huge"]   # category order
    assert got.index.name == "band" and got.name == "auc"
    rec = read_records(out).slices["auc"]
    assert rec["by"] == "band"
    assert rec["values"] == {"small": pytest.approx(got["small"])}
    assert rec["counts"] == {"small": 40, "medium": 5, "large": 30, "huge": 0}


def test_slices_that_cannot_be_scored_are_skipped_with_their_reason(out: Path) -> None:
    got = record_slices("auc", by="band", data=_frame(), y_true="y", y_score="score")

    assert math.isnan(got["medium"]) and math.isnan(got["large"]) and math.isnan(got["huge"])
    skipped = read_records(out).slices["auc"]["skipped"]
    assert skipped == {"medium": "5 rows < min_count 10",
                       "large": "one class only (30 rows of class 1)", "huge": "no rows"}


def test_label_metrics_cut_scores_and_take_series_and_a_callable(out: Path) -> None:
    df = _frame()
    got = record_slices("accuracy", by=df["band"], y_true=df["y"], y_score=df["score"],
                        min_count=5)
    large = df[df.band == "large"]
    assert got["large"] == pytest.approx(accuracy_score(large.y, large.score >= 0.5))
    assert got["medium"] == pytest.approx(accuracy_score([0, 1, 0, 1, 1],
                                                         df.score[df.band == "medium"] >= 0.5))

    mine = record_slices("share_high", by=df["band"].to_numpy(), y_true=df["y"],
                         y_score=df["score"], by_name="size band",
                         scorer=lambda y, p: float((p > 0.7).mean()))
    assert mine["large"] == pytest.approx(float((large.score > 0.7).mean()))
    assert read_records(out).slices["share_high"]["by"] == "size band"


def test_precision_undefined_on_a_slice_is_skipped_not_zero(out: Path) -> None:
    df = pd.DataFrame({"g": ["a"] * 10 + ["b"] * 10, "y": [0, 1] * 10,
                       "p": [0.1] * 10 + [0.2, 0.9] * 5})
    got = record_slices("precision", by="g", data=df, y_true="y", y_score="p")
    assert math.isnan(got["a"]) and got["b"] == 1.0
    assert read_records(out).slices["precision"]["skipped"] == {"a": "undefined on this slice"}


def test_values_already_computed_are_recorded_as_given(out: Path) -> None:
    got = record_slices("auc", by="site", values={"north": 0.91, "south": None},
                        counts={"north": 50, "south": 3})
    assert got["north"] == 0.91 and math.isnan(got["south"])
    rec = read_records(out).slices["auc"]
    assert rec["values"] == {"north": 0.91} and rec["skipped"] == {"south": "not computed"}
    assert rec["counts"] == {"north": 50, "south": 3}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"by": "band", "y_true": "y", "y_score": "score"}, "names a column, but data="),
    ({"by": [1, 2], "y_true": [0, 1, 1], "y_score": [0.1, 0.2, 0.3]}, "same length"),
    ({"by": pd.Series([1, 2], index=[5, 6]), "y_true": pd.Series([0, 1]), "y_score": [0.1, 0.9]},
     "not aligned"),
    ({"by": [1, 1], "y_true": [0, 1], "y_score": [0.1, float("nan")]}, "1 missing values"),
    ({"by": [1, 1], "y_true": [0, 1]}, "needs y_score="),
])
def test_bad_inputs_raise_instead_of_recording(out: Path, kwargs: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record_slices("auc", **kwargs)
    with pytest.raises(ValueError, match="no default scorer for metric 'lift'"):
        record_slices("lift", by=[1], y_true=[1], y_score=[1.0])
    assert not (out / "records.jsonl").exists()


def test_missing_slice_labels_form_a_slice_of_their_own(out: Path) -> None:
    got = record_slices("accuracy", by=["a", None, "a", None], y_true=[1, 1, 0, 0],
                        y_score=[0.9, 0.9, 0.1, 0.9], min_count=1)
    assert got.to_dict() == {"a": 1.0, "(missing)": 0.5}


# ---- the gate ------------------------------------------------------------------------------

SLICES = {"auc": {"by": "size_band", "values": {"small": 0.99, "medium": 0.97, "large": 0.87},
                  "counts": {"small": 38, "medium": 38, "large": 38}, "skipped": {}},
          "logloss": {"by": "size_band", "values": {"small": 0.1, "medium": 0.3, "large": 0.2},
                      "counts": {}, "skipped": {"tiny": "4 rows < min_count 10"}}}


def _rows(gates: dict[str, Any], slices: dict[str, Any] | None = None,
          metrics: dict[str, Any] | None = None) -> list[Any]:
    config = {"metrics": metrics or {}, "gates": {"slices": gates}}
    directions = {k: v["direction"] for k, v in (metrics or {}).items()}
    return evaluate(parse_gates(config, "cfg.yaml"), {}, directions, None,
                    slices=SLICES if slices is None else slices)


def test_parse_reads_slice_limits_with_their_keys() -> None:
    gates = parse_gates({"gates": {"slices": {"auc": {"worst_min": 0.9, "max_gap": 0.1}}}})
    assert gates.checks == (SliceLimit("auc", worst_min=0.9, max_gap=0.1),)
    assert gates.checks[0].key == "gates.slices.auc"


def test_slice_gates_pass_within_the_limits() -> None:
    rows = _rows({"auc": {"worst_min": 0.85, "max_gap": 0.12}})
    assert [(r.gate, r.passed) for r in rows] == [("worst_slice", True), ("slice_gap", True)]
    assert rows[0].value == 0.87 and rows[1].value == pytest.approx(0.12)


def test_worst_slice_fails_by_name() -> None:
    [row] = _rows({"auc": {"worst_min": 0.9}})
    assert not row.passed and (row.value, row.limit) == (0.87, 0.9)
    assert row.detail == "worst size_band `large` (38 rows): auc 0.87 < 0.9"


def test_gap_fails_naming_best_and_worst() -> None:
    [row] = _rows({"auc": {"max_gap": 0.08}})
    assert not row.passed and row.value == pytest.approx(0.12)
    assert row.detail == ("auc gap between best size_band `small` 0.99 and worst `large` 0.87: "
                          "0.12 > 0.08")


def test_lower_is_better_makes_the_highest_slice_the_worst() -> None:
    rows = _rows({"logloss": {"worst_max": 0.25, "max_gap": 0.1}},
                 metrics={"logloss": {"direction": "lower"}})
    worst, gap = rows
    assert not worst.passed and worst.value == 0.3 and "worst size_band `medium`" in worst.detail
    assert "skipped `tiny`: 4 rows < min_count 10" in worst.detail
    assert not gap.passed and "best size_band `small` 0.1 and worst `medium` 0.3" in gap.detail


def test_a_metric_not_recorded_per_slice_fails_every_limit() -> None:
    rows = _rows({"f1": {"worst_min": 0.9, "max_gap": 0.1}})
    assert [r.gate for r in failed(rows)] == ["worst_slice", "slice_gap"]
    assert all("not recorded per slice" in r.detail and r.value is None for r in rows)


def test_a_metric_whose_slices_were_all_skipped_fails() -> None:
    slices = {"auc": {"by": "site", "values": {}, "counts": {"a": 3},
                      "skipped": {"a": "3 rows < min_count 10"}}}
    [row] = _rows({"auc": {"worst_min": 0.9}}, slices)
    assert not row.passed
    assert row.detail == "no slice of site was scored: skipped `a`: 3 rows < min_count 10"


@pytest.mark.parametrize(("gates", "metrics", "key"), [
    ({"auc": {"worst": 0.9}}, {}, "gates.slices.auc.worst'"),
    ({"auc": {}}, {}, "gates.slices.auc'"),
    ({"auc": 0.9}, {}, "gates.slices.auc'"),
    ({"auc": {"worst_min": "high"}}, {}, "gates.slices.auc.worst_min'"),
    ({"auc": {"max_gap": -0.1}}, {}, "gates.slices.auc.max_gap'"),
    ({"auc": {"worst_max": 0.9}}, {}, "gates.slices.auc.worst_max' .*use worst_min"),
    ({"logloss": {"worst_min": 0.2}}, {"logloss": {"direction": "lower"}},
     "gates.slices.logloss.worst_min' .*use worst_max"),
    ([], {}, "gates.slices'"),
])
def test_slice_gate_errors_name_the_key(gates: Any, metrics: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"cfg.yaml: .*'{key}"):
        parse_gates({"metrics": metrics, "gates": {"slices": gates}}, "cfg.yaml")


# ---- the report ----------------------------------------------------------------------------

def test_metrics_table_shows_the_worst_slice_next_to_the_metric() -> None:
    result = RunResult("nb.ipynb", "success", metrics={"auc": 0.97, "logloss": 0.15},
                       slices={**SLICES, "f1": {"by": "site", "values": {"a": 0.8}}})
    rep = NotebookReport(result, directions={"logloss": "lower"})
    lines = metrics_table(rep, [("main", {"auc": 0.96})]).splitlines()
    row = {line.split("`")[1]: line for line in lines[2:]}
    assert "| 0.97 · worst size_band `large` 0.87 | 0.96 |" in row["auc"]
    assert "| 0.15 · worst size_band `medium` 0.3 |" in row["logloss"]
    assert "| not recorded · worst site `a` 0.8 |" in row["f1"]


def test_the_comment_shows_the_worst_slice_and_the_failing_slice_gate() -> None:
    result = RunResult("nb.ipynb", "success", metrics={"auc": 0.97}, slices=SLICES)
    rows = _rows({"auc": {"worst_min": 0.9}})
    body = render_comment([NotebookReport(result, gates=rows)], RunContext())
    assert "| `auc` ↑ | 0.97 · worst size_band `large` 0.87 |" in body
    assert "**1 of 1 validation gates failed.**" in body
    assert ("| worst_slice | `auc` | 0.87 | 0.9 | ❌ fail | worst size_band `large` (38 rows)"
            in body)
