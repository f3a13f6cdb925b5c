"""The shadow comparison (runner.monitor.shadow) on tiny real XGBoost models, and gates.shadow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runner.errors import ConfigError, UsageError
from runner.monitor.shadow import compare, load_model, missing_features, score_psi
from runner.report.gates import evaluate, failed, parse_gates
from runner.report.gates.shadow import SHADOW_FILE, read_shadow_checks, shadow_limits
from runner.report.render import gate_table
from tests.shadow_helpers import frame, train_model

SHADOW = {"gates": {"shadow": {"scoring_notebook": "notebooks/score.ipynb",
                               "min_agreement": 0.95, "max_score_psi": 0.1,
                               "max_latency_ratio": 1.5}}}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"production": train_model(root / "prod.json"),
            "same": train_model(root / "same.json"),
            "flipped": train_model(root / "flipped.json", flip=True),
            "narrow": train_model(root / "narrow.json", features=["f_a", "f_b"])}


def test_an_identical_candidate_agrees_everywhere(models: dict[str, Path]) -> None:
    prod, same = load_model(models["production"]), load_model(models["same"])
    result = compare(same, prod, frame(), threshold=0.5, timings=3)
    assert result.rows == 300 and result.agreement == 1.0 and result.labels_changed == 0
    assert result.score_psi == pytest.approx(0.0, abs=1e-9)
    assert result.mean_abs_score_change == 0.0
    assert result.latency_ms_candidate > 0 and result.latency_ms_production > 0
    assert 0.2 < result.latency_ratio < 5      # the same model: about 1, whatever the machine


def test_a_candidate_that_flips_labels_disagrees(models: dict[str, Path]) -> None:
    prod, flipped = load_model(models["production"]), load_model(models["flipped"])
    result = compare(flipped, prod, frame(), timings=1)
    assert result.agreement < 0.2 and result.labels_changed > 240
    assert result.score_psi > 0.1        # nearly mirrored scores: agreement is what sees it
    assert result.positive_rate_candidate == pytest.approx(1 - result.positive_rate_production,
                                                           abs=0.2)


def test_the_threshold_decides_the_labels(models: dict[str, Path]) -> None:
    prod, flipped = load_model(models["production"]), load_model(models["flipped"])
    rows = frame()
    # every score is below 0.999, so at that threshold every label is 0 under both models
    assert compare(flipped, prod, rows, threshold=0.999, timings=1).agreement == 1.0


def test_each_model_reads_its_own_features(models: dict[str, Path]) -> None:
    narrow = load_model(models["narrow"])
    assert narrow.features == ["f_a", "f_b"]
    assert missing_features(load_model(models["production"]), frame()[["f_a", "f_b"]]) == \
        ["f_c", "f_d"]
    result = compare(narrow, load_model(models["production"]), frame(), timings=1)
    assert result.agreement > 0.6       # both learned f_a + f_b > 0


def test_score_psi_is_zero_for_equal_scores_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(size=2000)
    assert score_psi(base, base) == pytest.approx(0.0, abs=1e-12)
    small, large = score_psi(base, base * 0.95), score_psi(base, base ** 3)
    assert 0 < small < 0.05 < large
    # a confident classifier: scores piled up near 0 and 1; 0.01 less confident changes no band
    piled = np.concatenate([rng.uniform(0.0, 0.02, 400), rng.uniform(0.975, 0.999, 600)])
    assert score_psi(piled, np.clip(piled + np.where(piled > 0.5, -0.01, 0.01), 0, 1)) < 0.01


def test_unknown_model_kinds_and_empty_inputs_are_errors(tmp_path: Path,
                                                        models: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match=r"no model loader for model\.pkl"):
        load_model(tmp_path / "model.pkl")
    prod = load_model(models["production"])
    with pytest.raises(UsageError, match="no rows"):
        compare(prod, prod, frame().iloc[:0])


def test_gate_config_errors_name_the_key() -> None:
    for block, key in (({"min_agreement": 1.5}, "gates.shadow.min_agreement"),
                       ({"max_psi": 0.1}, "gates.shadow.max_psi"),
                       ({"max_score_psi": "low"}, "gates.shadow.max_score_psi"),
                       ({"threshold": 1}, "gates.shadow.threshold")):
        with pytest.raises(ConfigError, match=rf"cfg.yaml: .*'{key}'"):
            parse_gates({"gates": {"shadow": block}}, "cfg.yaml")
    assert shadow_limits({"gates": {"thresholds": {}}}) is None
    limits = shadow_limits(SHADOW)
    assert limits is not None and limits.min_agreement == 0.95 and limits.threshold == 0.5


def test_gate_fails_when_the_comparison_did_not_run() -> None:
    rows = evaluate(parse_gates(SHADOW), {}, {}, None)
    [row] = failed(rows)
    assert row.gate == "shadow" and "shadow comparison not run" in row.detail
    assert "❌ fail" in gate_table(rows)


def test_gate_shows_the_recorded_rows(tmp_path: Path) -> None:
    limits = shadow_limits(SHADOW)
    assert limits is not None
    checks = {"shadow/agreement": limits.judge("agreement", 0.9, "57 of 569 labels change"),
              "shadow/score_psi": limits.judge("score_psi", 0.02, "mean score change 0.01"),
              "shadow/latency_ratio": limits.judge("latency_ratio", 1.1, "3 µs per row")}
    (tmp_path / SHADOW_FILE).write_text(json.dumps({"checks": checks, "other": 1}), "utf-8")
    loaded = read_shadow_checks(tmp_path)
    assert loaded == checks
    rows = evaluate(parse_gates(SHADOW), {}, {}, None, checks=loaded)
    assert [(r.metric, r.passed) for r in rows] == [
        ("shadow/agreement", False), ("shadow/score_psi", True), ("shadow/latency_ratio", True)]
    assert rows[0].detail == "0.9 < 0.95; 57 of 569 labels change" and rows[0].limit == 0.95
    assert read_shadow_checks(tmp_path / "missing") == {}


def test_a_measure_without_a_limit_is_shown_and_passes() -> None:
    limits = shadow_limits({"gates": {"shadow": {"min_agreement": 0.9}}})
    assert limits is not None
    row = limits.judge("latency_ratio", 3.0, "slow")
    assert row == {"passed": True, "value": 3.0, "limit": None, "detail": "3, not gated; slow"}


def test_model_links_are_read_in_both_of_gitlabs_web_forms() -> None:
    from runner.gitlab_client import ReleaseLink
    from runner.publish.production_model import link_location, model_link

    web = "https://gitlab.example.com/g/p/-"
    assert link_location(f"{web}/jobs/42/artifacts/raw/.ds-runner/nb/xgb%20model.json") == \
        (42, ".ds-runner/nb/xgb model.json", "", "")
    assert link_location(f"{web}/jobs/artifacts/v1.0.0/raw/.ds-runner/nb/m.json?job=train") == \
        (0, ".ds-runner/nb/m.json", "v1.0.0", "train")
    assert link_location(f"{web}/container_registry") is None
    links = [ReleaseLink(1, "Model file m.json of nb/a.ipynb, nb/ab.ipynb", "u1", "package"),
             ReleaseLink(2, "Model file n.json of nb/b.ipynb", "u2", "package"),
             ReleaseLink(3, "Container image x", "u3", "image")]
    assert model_link(links, "nb/ab.ipynb") == links[0]
    assert model_link(links, "nb/b.ipynb") == links[1]
    assert model_link(links, "nb/c.ipynb") is None            # two model links: not a guess
    assert model_link(links[1:], "nb/c.ipynb") == links[1]    # the only one


def test_the_scored_input_stays_inside_the_output_folder() -> None:
    from runner.publish.scheduled import output_folder, scored_input_path

    folder = output_folder("notebooks/score.ipynb")
    assert folder == ".ds-runner/notebooks/score"
    good = json.dumps({"info": {"scored_input": "scored_input.csv"}}).encode()
    assert scored_input_path(good, folder) == ".ds-runner/notebooks/score/scored_input.csv"
    for name in ("../secrets.csv", "/etc/passwd", ""):
        bad = json.dumps({"info": {"scored_input": name}}).encode()
        assert scored_input_path(bad, folder) is None, name
    assert scored_input_path(b"not json", folder) is None


def test_notebooks_do_not_need_to_record_the_shadow_measures() -> None:
    """A notebook checks its config's metric names (runner.examples): gates.shadow names none
    of its metrics, ds-runner shadow records the rows."""
    from runner.config import Config
    from runner.examples import check_metric_names

    cfg = Config({**SHADOW, "gates": {**SHADOW["gates"], "thresholds": {"auc": {"min": 0.9}}}},
                 "cfg.yaml")
    assert check_metric_names(cfg, {"auc"}) == {}
    with pytest.raises(ConfigError, match=r"unknown metric 'gates\.thresholds\.auc'"):
        check_metric_names(cfg, {"logloss"})
