"""Reference profiles, drift measures and the ``gates.drift`` gate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.errors import ConfigError, UsageError
from runner.metrics import OUTPUT_DIR_ENV, RunResult, read_records
from runner.monitor.drift import compute_drift, psi, record_drift
from runner.monitor.names import PSI_MAX, SCORE_PSI, column_metric, metric_key
from runner.monitor.profile import (
    build_profile,
    check_pairing,
    load_profile,
    model_digest,
    profile_path_for,
    reference_for,
    write_profile,
)
from runner.report.drift_summary import drift_section
from runner.report.gates import evaluate, failed, parse_gates
from runner.report.render import NotebookReport, metrics_table

RNG = np.random.default_rng(7)
N = 4000


def frame(shift: float = 0.0, scale: float = 1.0, n: int = N, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"mean radius": rng.normal(14, 3, n) * scale + shift,
                         "age": rng.integers(20, 80, n).astype(float),
                         "colour": rng.choice(["red", "green", "blue"], n, p=[.5, .3, .2])})


def test_profile_bins_hold_equal_shares_and_round_trip(tmp_path: Path) -> None:
    ref = frame()
    profile = build_profile(ref, np.linspace(0, 1, N), bins=10, sample=500)
    radius = profile["features"]["mean radius"]
    assert len(radius["edges"]) == 9 and sum(radius["shares"]) == pytest.approx(1.0)
    assert all(s == pytest.approx(0.1, abs=0.01) for s in radius["shares"])
    assert len(radius["sample"]) == 500 and radius["missing_rate"] == 0.0
    assert set(profile["features"]["colour"]["categories"]) >= {"red", "green", "blue"}
    path = write_profile(profile, profile_path_for(tmp_path / "xgb_model.json"))
    assert path.name == "xgb_model.profile.json"
    loaded = load_profile(path)
    assert loaded["features"]["mean radius"]["edges"] == pytest.approx(radius["edges"])


def test_load_profile_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"features": {}}))
    with pytest.raises(UsageError, match=r"p\.json is not a reference profile"):
        load_profile(bad)
    with pytest.raises(UsageError, match="cannot read the reference profile"):
        load_profile(tmp_path / "missing.json")


def test_psi_formula_and_epsilon_for_empty_bins() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    expected = (0.7 - 0.5) * math.log(0.7 / 0.5) + (0.3 - 0.5) * math.log(0.3 / 0.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.7, 0.3])) == pytest.approx(expected)
    assert math.isfinite(psi(np.array([0.5, 0.5]), np.array([1.0, 0.0])))


def test_same_distribution_does_not_drift_and_a_shift_does() -> None:
    profile = build_profile(frame(), RNG.random(N))
    same = compute_drift(profile, frame(seed=2), RNG.random(N))
    assert max(c.psi for c in same.columns if c.psi is not None) < 0.05
    assert same.score is not None and same.score.psi is not None and same.score.psi < 0.05
    moved = frame(seed=3)
    moved["mean radius"] = moved["mean radius"] * 1.3 + 2
    moved.loc[: N // 10, "age"] = np.nan
    moved["colour"] = "purple"
    drift = compute_drift(profile, moved, RNG.random(N) ** 3)
    by_name = {c.name: c for c in drift.columns}
    assert by_name["mean radius"].psi is not None and by_name["mean radius"].psi > 0.25
    assert by_name["mean radius"].ks_p is not None and by_name["mean radius"].ks_p < 1e-6
    assert by_name["age"].missing_change == pytest.approx((N // 10 + 1) / N)
    assert by_name["colour"].psi is not None and by_name["colour"].psi > 1
    assert drift.score is not None and drift.score.psi is not None and drift.score.psi > 0.25
    assert drift.table().index[:2].tolist() == ["score", "colour"]


def test_a_missing_column_counts_as_missing() -> None:
    profile = build_profile(frame(), RNG.random(N))
    drift = compute_drift(profile, frame().drop(columns=["age"]))
    assert next(c for c in drift.columns if c.name == "age").missing_change == 1.0


def test_record_drift_records_sanitised_metric_names(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OUTPUT_DIR_ENV, str(tmp_path))
    path = write_profile(build_profile(frame(), RNG.random(N)), tmp_path / "m.profile.json")
    record_drift(path, frame(seed=5), RNG.random(N))
    metrics = read_records(tmp_path).metrics
    assert metric_key("mean radius") == "mean_radius"
    for name in (SCORE_PSI, PSI_MAX, "drift/psi/mean_radius", "drift/ks_p/mean_radius",
                 "drift/ks/age", "drift/missing/colour", "drift/psi/colour"):
        assert name in metrics, name
    assert column_metric("ks_p", "a b/c") == "drift/ks_p/a_b_c"
    assert "drift/ks_p/colour" not in metrics        # no KS test for a categorical column


GATES = {"gates": {"drift": {"score_psi": {"max": 0.2}, "feature_psi": {"max": 0.25},
                             "ks_pvalue": {"min": 0.001}, "missing_change": {"max": 0.05}}}}


def test_drift_gate_passes_a_quiet_run_and_names_the_worst_columns() -> None:
    gates = parse_gates(GATES, "inference_config.yaml")
    quiet = {SCORE_PSI: 0.01, "drift/psi/a": 0.02, "drift/psi/b": 0.05, "drift/ks_p/a": 0.4,
             "drift/ks_p/b": 0.2, "drift/missing/a": 0.0, "drift/missing/b": 0.01}
    rows = evaluate(gates, quiet, {}, None)
    assert not failed(rows) and [r.gate for r in rows] == ["drift"] * 4
    assert rows[1].metric == "drift/psi/b" and "worst PSI b 0.05 within max 0.25" in rows[1].detail
    loud = {**quiet, SCORE_PSI: 0.3, "drift/psi/a": 0.4, "drift/psi/c": 0.9,
            "drift/ks_p/b": 1e-9}
    bad = failed(evaluate(gates, loud, {}, None))
    assert [r.metric for r in bad] == [SCORE_PSI, "drift/psi/c", "drift/ks_p/b"]
    assert bad[0].detail == "score PSI 0.3 > max 0.2"
    assert bad[1].detail == "2 of 3 columns past max 0.25 (PSI): c 0.9, a 0.4"
    assert bad[2].value == 1e-9 and "1 of 2 columns past min 0.001" in bad[2].detail


def test_drift_gate_fails_a_run_without_drift() -> None:
    rows = evaluate(parse_gates(GATES), {"rows_scored": 5}, {}, None)
    assert len(failed(rows)) == 4 and all("not recorded" in r.detail for r in rows)


@pytest.mark.parametrize(("block", "message"), [
    ({"score_psi": {"min": 0.2}}, "'gates.drift.score_psi' must be a mapping with 'max' only"),
    ({"ks_pvalue": {"max": 0.2}}, "'gates.drift.ks_pvalue' must be a mapping with 'min' only"),
    ({"psi": {"max": 0.2}}, "unknown key 'gates.drift.psi'"),
    ({"feature_psi": {"max": -1}}, "'gates.drift.feature_psi.max' must be 0 or more"),
])
def test_drift_gate_config_errors_name_the_key(block: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_gates({"gates": {"drift": block}}, "inference_config.yaml")


def test_reference_for_finds_the_committed_or_the_registered_profile(tmp_path: Path) -> None:
    model = tmp_path / "xgb_model.json"
    assert reference_for(model) is None
    (tmp_path / "reference_profile.json").write_text("{}")
    assert reference_for(model) == tmp_path / "reference_profile.json"
    (tmp_path / "xgb_model.profile.json").write_text("{}")
    assert reference_for(model) == tmp_path / "xgb_model.profile.json"


def test_a_profile_refuses_a_model_it_was_not_made_for(tmp_path: Path) -> None:
    model = tmp_path / "xgb_model.json"
    model.write_text('{"learner": 1}')
    profile = build_profile(frame(n=200), np.linspace(0, 1, 50),
                            info={"model_sha256": model_digest(model)})
    path = write_profile(profile, tmp_path / "xgb_model.profile.json")
    check_pairing(path, model)                       # the model it was made for
    model.write_text('{"learner": 2}')               # retrained, profile not committed with it
    with pytest.raises(UsageError, match="reference profile of another model"):
        check_pairing(path, model)
    write_profile(build_profile(frame(n=200), np.linspace(0, 1, 50)), path)
    check_pairing(path, model)                       # no digest recorded: taken as it is


def test_the_report_shows_the_top_features_and_hides_them_from_the_metric_table() -> None:
    metrics = {"rows_scored": 10.0, SCORE_PSI: 0.31, "drift/score_ks_p": 0.002,
               PSI_MAX: 0.9, "drift/psi/a": 0.05, "drift/ks_p/a": 0.5, "drift/missing/a": 0.0,
               "drift/psi/b": 0.9, "drift/ks_p/b": 1e-6, "drift/missing/b": 0.1}
    section = drift_section(metrics, top=1)
    assert section.startswith("Score PSI **0.31** (significant shift, KS p-value 0.002).")
    assert "Top 1 of 2 features by PSI" in section and "| `b` | 0.9 | 1e-06 | 0.1 |" in section
    assert "`a`" not in section and drift_section({"rows_scored": 1.0}) == ""
    table = metrics_table(NotebookReport(RunResult("nb.ipynb", "success", metrics=metrics)), [])
    assert "`drift/score_psi`" in table and "`drift/psi_max`" in table
    assert "drift/psi/b" not in table and "drift/missing/a" not in table


def test_the_numpy_ks_test_agrees_with_scipys_asymptotic_one() -> None:
    from scipy.stats import ks_2samp as scipy_ks  # type: ignore[import-untyped]

    from runner.monitor.drift import ks_2samp

    rng = np.random.default_rng(3)
    for shift in (0.0, 0.05, 0.2, 1.0):
        a, b = rng.normal(0, 1, 1000), rng.normal(shift, 1, 20000)
        d, p = ks_2samp(a, b)
        expected = scipy_ks(a, b, method="asymp")
        assert d == pytest.approx(expected.statistic)
        assert p == pytest.approx(expected.pvalue, rel=0.05, abs=1e-3)


def test_the_comment_has_a_drift_section_and_a_lean_history() -> None:
    from runner.report.comment_body import parse_history, render_comment
    from runner.report.render import RunContext

    metrics = {"rows_scored": 569.0, SCORE_PSI: 0.37, PSI_MAX: 3.17, "drift/psi/worst_area": 3.17}
    body = render_comment([NotebookReport(RunResult("nb.ipynb", "success", metrics=metrics))],
                          RunContext(pipeline_id="7"))
    assert "#### Drift\n\nScore PSI **0.37** (significant shift)." in body
    assert body.index("#### Drift") < body.index("#### Validation gates")
    [entry] = parse_history(body)
    assert set(entry["notebooks"]["nb.ipynb"]["metrics"]) == {"rows_scored", SCORE_PSI, PSI_MAX}
