from __future__ import annotations

import pytest

from runner.errors import ConfigError
from runner.report.gates import (
    GATES,
    Gates,
    NoRegression,
    Threshold,
    evaluate,
    failed,
    get,
    parse_gates,
)
from runner.report.render import gate_table

CONFIG = {
    "metrics": {"latency_p95_ms": {"direction": "lower"}},
    "gates": {
        "thresholds": {"auc": {"min": 0.95}, "latency_p95_ms": {"max": 20}},
        "no_regression": [{"metric": "auc", "tolerance": 0.01},
                          {"metric": "latency_p95_ms", "tolerance": 0.1}],
    },
}
DIRECTIONS = {"latency_p95_ms": "lower"}


def test_parse_reads_thresholds_and_no_regression() -> None:
    gates = parse_gates(CONFIG, "training_config.yaml")
    assert gates.checks == (Threshold("auc", 0.95, None), Threshold("latency_p95_ms", None, 20),
                            NoRegression("auc", 0.01), NoRegression("latency_p95_ms", 0.1))


def test_no_gates_is_empty_and_falsy() -> None:
    assert not parse_gates({}) and parse_gates({"gates": None}) == Gates()


@pytest.mark.parametrize(("gates", "key"), [
    ({"thresholds": {"auc": {"mini": 0.9}}}, "gates.thresholds.auc.mini"),
    ({"thresholds": {"auc": {"min": "high"}}}, "gates.thresholds.auc.min"),
    ({"thresholds": {"auc": {"min": 2, "max": 1}}}, "gates.thresholds.auc"),
    ({"no_regression": [{"tolerance": 0.1}]}, "gates.no_regression[0].metric"),
    ({"no_regression": [{"metric": "auc", "tolerance": "x"}]}, "gates.no_regression[0].tolerance"),
    ({"no_regression": [{"metric": "auc", "tolerance": -1}]}, "gates.no_regression[0].tolerance"),
    ({"no_regression": ["auc"]}, "gates.no_regression[0]"),
    ({"no_regression": {"metric": "auc"}}, "gates.no_regression"),
    ({"threshold": {}}, "gates.threshold"),
])
def test_errors_name_the_key(gates: dict[str, object], key: str) -> None:
    pattern = key.replace("[", ".").replace("]", ".")
    with pytest.raises(ConfigError, match=rf"cfg.yaml: .*'{pattern}"):
        parse_gates({"gates": gates}, "cfg.yaml")


def test_thresholds_pass_and_fail_at_the_limits() -> None:
    gates = parse_gates(CONFIG)
    rows = evaluate(gates, {"auc": 0.95, "latency_p95_ms": 20.5}, DIRECTIONS, None)
    by = {(r.gate, r.metric): r for r in rows}
    assert by[("min", "auc")].passed and by[("min", "auc")].limit == 0.95
    assert not by[("max", "latency_p95_ms")].passed
    assert "20.5 > max 20" in by[("max", "latency_p95_ms")].detail


def test_missing_metric_fails_every_gate_naming_it() -> None:
    rows = evaluate(parse_gates(CONFIG), {"latency_p95_ms": 10}, DIRECTIONS, {"auc": 0.9})
    auc_rows = [r for r in rows if r.metric == "auc"]
    assert len(auc_rows) == 2 and not any(r.passed for r in auc_rows)
    assert all("not recorded" in r.detail and r.value is None for r in auc_rows)


def test_no_regression_higher_is_better_uses_relative_tolerance() -> None:
    gates = Gates((NoRegression("auc", 0.01),))
    ok = evaluate(gates, {"auc": 0.9405}, {}, {"auc": 0.95})[0]     # limit 0.9405
    bad = evaluate(gates, {"auc": 0.94}, {}, {"auc": 0.95})[0]
    assert ok.passed and ok.limit == pytest.approx(0.9405)
    assert not bad.passed and "needs at least 0.9405" in bad.detail


def test_no_regression_lower_is_better() -> None:
    gates = Gates((NoRegression("latency_p95_ms", 0.1),))
    ok = evaluate(gates, {"latency_p95_ms": 21.9}, DIRECTIONS, {"latency_p95_ms": 20})[0]
    bad = evaluate(gates, {"latency_p95_ms": 22.1}, DIRECTIONS, {"latency_p95_ms": 20})[0]
    assert ok.passed and ok.limit == pytest.approx(22)
    assert not bad.passed and "at most 22" in bad.detail


def test_no_regression_without_baseline_passes_and_says_why() -> None:
    gates = Gates((NoRegression("auc", 0.0),))
    none = evaluate(gates, {"auc": 0.5}, {}, None)[0]
    lacking = evaluate(gates, {"auc": 0.5}, {}, {"f1": 0.9})[0]
    assert none.passed and "no production baseline" in none.detail and none.limit is None
    assert lacking.passed and "has no value" in lacking.detail


def test_format_table_lists_every_gate() -> None:
    rows = evaluate(parse_gates(CONFIG), {"auc": 0.9, "latency_p95_ms": 10}, DIRECTIONS,
                    {"auc": 0.97, "latency_p95_ms": 9})
    text = gate_table(rows, plain=True, title="gates:")
    assert len(failed(rows)) == 3
    assert text.count("FAIL") == 3 and text.count("PASS") == 1
    assert "limit=0.95" in text and "value=0.9 " in text


def test_unknown_gate_name_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"cfg.yaml: unknown key 'gates.nope' "
                                          r"\(expected thresholds, no_regression, .*slices"):
        get("nope", "cfg.yaml")
    assert get("thresholds") is GATES["thresholds"]


def test_failed_run_gets_a_run_status_row_first_with_no_value() -> None:
    rows = evaluate(parse_gates(CONFIG), {"auc": 0.99, "latency_p95_ms": 1}, DIRECTIONS, None,
                    status="failed")
    assert (rows[0].gate, rows[0].passed, rows[0].has_value) == ("run_status", False, False)
    assert "| run_status | `status` | — | — | ❌ fail |" in gate_table(rows)
    assert "value=-  " in gate_table(rows, plain=True)
    assert evaluate(Gates(), {}, {}, None) == []
