"""Data checks: ``data_checks:`` parsing, the checks on real frames, ``runner.check_data``'s
records and ``on_fail: stop``, the data gate's rows and ``ds-runner check-data`` on real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from runner import check_data
from runner.cli import main
from runner.config import Config
from runner.errors import ConfigError, DataCheckError, ExitCode
from runner.metrics import read_records
from runner.monitor.checks import run_checks
from runner.monitor.spec import check_name, declared
from runner.report.gates import evaluate, failed, parse_gates
from runner.report.gates.data import DataChecks
from runner.report.render import gate_table

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "data" / "inference_input.csv"


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "out"
    monkeypatch.setenv("DS_RUNNER_OUTPUT_DIR", str(folder))
    return folder


def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [30.0, 41.0, 52.0, 63.0], "city": ["a", "b", "c", "d"],
                         "label": [0, 1, 0, 1]})


def outcomes(df: pd.DataFrame, spec: dict[str, Any]) -> dict[str, tuple[bool, str]]:
    return {o.name: (o.passed, o.detail) for o in run_checks(df, spec)}


@pytest.mark.parametrize(("block", "message"), [
    ({"training": {"min_rowz": 1}}, "unknown key 'data_checks.training.min_rowz'"),
    ({"training": {"on_fail": "warn"}}, "'data_checks.training.on_fail' must be one of record"),
    ({"training": {"min_rows": -1}}, "'data_checks.training.min_rows' must be >= 0"),
    ({"training": {"columns": {"age": "decimal"}}},
     "'data_checks.training.columns.age' must be one of int, float"),
    ({"training": {"not_null": "age"}}, "'data_checks.training.not_null' must be a list"),
    ({"training": {"ranges": {"age": {"min": 5, "max": 1}}}},
     "'data_checks.training.ranges.age' has min 5 above max 1"),
    ({"training": {"ranges": {"age": {"low": 0}}}},
     "'data_checks.training.ranges.age' must be a mapping with 'min' and/or 'max'"),
    ({"training": {"allowed": {"label": []}}},
     "'data_checks.training.allowed.label' must be a non-empty list"),
    ({"training": {"max_duplicate_ratio": 2}},
     "'data_checks.training.max_duplicate_ratio' must be between 0 and 1"),
    ({"training": {"min_class_ratio": {"column": "label"}}},
     "'data_checks.training.min_class_ratio' must be a mapping like"),
    ({"a.b": {}}, "'data_checks.a.b' must be named with letters"),
    (["training"], "'data_checks' must be a mapping"),
])
def test_a_bad_block_names_its_key(block: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        declared(Config({"data_checks": block}, "cfg.yaml"))
    assert str(caught.value).startswith("cfg.yaml: ") and message in str(caught.value)


def test_column_names_with_dots_and_spaces_are_read_as_written() -> None:
    spec = declared(Config({"data_checks": {"t": {"columns": {"mean radius": "float",
                                                              "a.b": "int"}}}}))["t"]
    assert dict(spec.columns) == {"mean radius": "float", "a.b": "int"}
    assert check_name("t", "range", "mean radius/x") == "data/t/range/mean_radius_x"


def test_every_check_passes_on_good_data() -> None:
    spec = {"min_rows": 4, "columns": {"age": "float", "city": "string", "label": "int"},
            "not_null": "all", "ranges": {"age": {"min": 18, "max": 99}},
            "allowed": {"label": [0, 1]}, "max_duplicate_ratio": 0,
            "min_class_ratio": {"column": "label", "min": 0.5}}
    got = outcomes(frame(), spec)
    assert list(got) == ["data/data/rows", "data/data/columns", "data/data/nulls",
                         "data/data/range/age", "data/data/allowed/label",
                         "data/data/duplicates", "data/data/class_ratio/label"]
    assert all(passed for passed, _ in got.values()), got


def test_each_check_fails_with_its_number() -> None:
    df = pd.concat([frame(), frame().iloc[[0]]], ignore_index=True)
    df.loc[1, "age"] = np.nan
    df.loc[2, "age"] = 150.0
    df.loc[3, "label"] = 2
    spec = {"min_rows": 10, "columns": {"age": "float", "city": "int", "zip": "string"},
            "not_null": ["age", "zip"], "ranges": {"age": {"min": 18, "max": 99}},
            "allowed": {"label": [0, 1]}, "max_duplicate_ratio": 0.1,
            "min_class_ratio": {"column": "label", "min": 0.25}}
    got = outcomes(df, spec)
    assert got == {
        "data/data/rows": (False, "rows: 5 < 10"),
        "data/data/columns": (False, "2 of 3 columns: `city` is str, not int, `zip` missing"),
        "data/data/nulls": (False, "nulls in `age`: 1 > 0; `zip` missing"),
        "data/data/range/age": (False, "rows of `age` outside [18, 99]: 1 (min 30, max 150)"),
        "data/data/allowed/label": (False, "rows of `label` not in {0, 1}: 1 (e.g. 2)"),
        "data/data/duplicates": (False, "duplicate rows: 0.2 > 0.1 (1 of 5)"),
        "data/data/class_ratio/label": (False, "rarest class of `label` (2): 0.2 < 0.25"),
    }


def test_int_accepts_whole_floats_widened_by_nulls_but_not_fractions() -> None:
    df = pd.DataFrame({"n": [1.0, None, 3.0], "x": [1.5, 2.0, 3.0], "b": [True, False, True]})
    got = outcomes(df, {"columns": {"n": "int", "x": "int", "b": "float"}})
    assert got["data/data/columns"] == (
        False, "2 of 3 columns: `x` is float64, not int, `b` is bool, not float")


def test_one_class_cannot_pass_a_balance_check() -> None:
    got = outcomes(frame().assign(label=1), {"min_class_ratio": {"column": "label", "min": 0.1}})
    assert got["data/data/class_ratio/label"] == (
        False, "`label` has 1 class(es); a ratio needs 2 or more")


def test_check_data_records_every_check_and_returns_them(out: Path) -> None:
    config = {"data_checks": {"people": {"min_rows": 1, "not_null": ["age"]}}}
    result = check_data(frame().assign(age=[1.0, None, None, 2.0]), "people", config)
    assert [(o.name, o.passed) for o in result] == [("data/people/rows", True),
                                                      ("data/people/nulls", False)]
    assert read_records(out).checks["data/people/nulls"] == {
        "passed": False, "value": 2.0, "limit": 0.0, "detail": "nulls in `age`: 2 > 0"}


def test_on_fail_stop_raises_after_recording_naming_the_failures(out: Path,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data_checks": {"people": {
        "on_fail": "stop", "min_rows": 9, "allowed": {"label": [0]}}}}), encoding="utf-8")
    with pytest.raises(DataCheckError) as caught:
        check_data(frame(), "people", str(path))
    assert str(caught.value) == (
        "2 of 2 data checks of 'people' failed (on_fail: stop): data/people/rows: rows: 4 < 9; "
        "data/people/allowed/label: rows of `label` not in {0}: 2 (e.g. 1)")
    assert caught.value.exit_code == ExitCode.FAILED
    assert set(read_records(out).checks) == {"data/people/rows", "data/people/allowed/label"}


def test_an_undeclared_data_set_is_a_config_error(out: Path) -> None:
    with pytest.raises(ConfigError, match="missing required key 'data_checks.scoring' "
                                          r"\(data sets declared: people\)"):
        check_data(frame(), "scoring", Config({"data_checks": {"people": {}}}))


def test_the_gate_shows_recorded_checks_and_flags_declared_ones_not_run() -> None:
    gates = parse_gates({"data_checks": {"training": {"min_rows": 1}, "input": {}}})
    assert gates and gates.data == DataChecks(("training", "input"))
    checks = {"data/training/rows": {"passed": True, "value": 569.0, "limit": 500.0,
                                     "detail": "rows: 569 >= 500"},
              "data/training/columns": {"passed": False, "value": None, "limit": None,
                                        "detail": "1 of 1 columns: `x` missing"},
              "other/thing": {"passed": False, "value": None, "limit": None, "detail": ""}}
    rows = evaluate(gates, {}, {}, None, checks=checks)
    assert [(r.gate, r.metric, r.passed) for r in rows] == [
        ("data", "data/training/rows", True), ("data", "data/training/columns", False),
        ("data", "data/input", False), ("check", "other/thing", False)]
    assert "declared (data_checks.input) but not run" in rows[2].detail
    table = gate_table(rows)
    assert "| data | `data/training/rows` | 569 | 500 | ✅ pass | rows: 569 >= 500 |" in table
    assert "| data | `data/input` | — | — | ❌ fail |" in table
    assert "**3 of 4 validation gates failed.**" in table


def test_without_data_checks_the_gate_is_silent() -> None:
    assert evaluate(parse_gates({}), {}, {}, None, checks={}) == []


# The example configs on the shipped data, and on a broken inference input (issue 11).

def test_the_shipped_data_passes_the_example_checks(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.datasets import load_breast_cancer

    assert main(["check-data", str(INPUT), "--config",
                 str(ROOT / "inference_config.yaml")]) == 0
    assert "data checks of input on" in capsys.readouterr().out
    training = tmp_path / "training.parquet"
    load_breast_cancer(as_frame=True).frame.to_parquet(training)
    assert main(["check-data", str(training), "--config", str(ROOT / "training_config.yaml"),
                 "--dataset", "training"]) == 0
    assert "(569 rows): 8 of 8 passed" in capsys.readouterr().out


def test_a_broken_input_fails_each_check_by_name(tmp_path: Path, out: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    broken = pd.read_csv(INPUT).drop(columns=["mean_texture"])
    broken.loc[[3, 7], "mean_radius"] = np.nan
    broken.loc[5, "mean_area"] = -40.0
    broken = pd.concat([broken, broken.iloc[[10]]])
    path = tmp_path / "broken.csv"
    broken.to_csv(path, index=False)
    config = ROOT / "inference_config.yaml"

    assert main(["check-data", str(path), "--config", str(config)]) == ExitCode.GATE_FAILED
    printed = capsys.readouterr().out
    assert "(570 rows): 4 of 9 passed" in printed
    for line in ("FAIL  data          data/input/columns", "FAIL  data          data/input/nulls",
                 "FAIL  data          data/input/range/mean_texture",
                 "FAIL  data          data/input/range/mean_area",
                 "FAIL  data          data/input/duplicates"):
        assert line in printed

    check_data(broken, "input", str(config))
    rows = evaluate(parse_gates(yaml.safe_load(config.read_text()), str(config)), {}, {}, None,
                    checks=read_records(out).checks)
    assert {r.metric: r.detail for r in failed(rows) if r.gate == "data"} == {
        "data/input/columns": "1 of 31 columns: `mean_texture` missing",
        "data/input/nulls": "nulls in `mean_radius`: 2 > 0",
        "data/input/range/mean_texture": "column `mean_texture` missing",
        "data/input/range/mean_area": "rows of `mean_area` outside [0, 10000]: 1 "
                                      "(min -40, max 2501)",
        "data/input/duplicates": "duplicate rows: 0.001754 > 0 (1 of 570)",
    }


def test_a_new_label_in_training_data_fails_by_name(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True).frame
    data.loc[0, "target"] = 2
    path = tmp_path / "labels.csv"
    data.to_csv(path, index=False)
    assert main(["check-data", str(path), "--config", str(ROOT / "training_config.yaml")]) == 7
    printed = capsys.readouterr().out
    assert "FAIL  data          data/training/allowed/target" in printed
    assert "rows of `target` not in {0, 1}: 1 (e.g. 2)" in printed
    assert "FAIL  data          data/training/class_ratio/target" in printed


@pytest.mark.parametrize(("setup", "args", "message"), [
    ("", ["missing.csv", "--dataset", "people"], "missing.csv: data file not found"),
    ("junk.parquet", ["junk.parquet", "--dataset", "people"],
     "junk.parquet: cannot read as Parquet"),
    ("data.csv", ["data.csv", "--dataset", "nope"], "no data set 'data_checks.nope' "
                                                     "(declared: people, other)"),
    ("data.csv", ["data.csv"], "name the data set to check with --dataset"),
])
def test_check_data_exits_2_for_what_it_cannot_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        setup: str, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("c.yaml").write_text("data_checks: {people: {min_rows: 1}, other: {}}\n")
    if setup:
        Path(setup).write_bytes(b"PAR1 not really parquet" if setup.endswith(".parquet")
                                else b"a,b\n1,2\n")
    assert main(["check-data", *args, "--config", "c.yaml"]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_check_data_exits_2_for_a_bad_config(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("data_checks: {people: {min_rows: many}}\n")
    assert main(["check-data", str(INPUT), "--config", str(config)]) == ExitCode.USAGE
    assert "'data_checks.people.min_rows' must be an integer, got 'many'" in (
        capsys.readouterr().err)


def test_the_wiki_row_says_when_a_successful_run_failed_its_checks() -> None:
    from runner.metrics import RunResult
    from runner.report.render import RunContext
    from runner.report.wiki_pages import Layout, index_row, run_row

    checks = {f"data/input/c{i}": {"passed": i > 3, "detail": ""} for i in range(9)}
    result = RunResult("nb.ipynb", "success", checks=checks)
    line = run_row(result, RunContext(pipeline_id="7")).line
    assert "| ✅ success · ❌ checks 5/9: `data/input/c0`, `data/input/c1`, `data/input/c2`, … |" \
        in line
    good = RunResult("nb.ipynb", "success", checks={"data/input/rows": {"passed": True}})
    assert "| ✅ success · checks 1/1 ✅ |" in index_row(good, RunContext(), Layout(), str).line
    assert "| ✅ success | —" in run_row(RunResult("nb.ipynb", "success"), RunContext()).line


def test_a_check_the_notebook_records_itself_is_a_gate_row() -> None:
    """runner.record_check promises a gate row of its own: any recorded check that no gate
    kind claims (data/, shadow/) is a `check` row and a failing one fails the gates."""
    from runner.report.gates import evaluate, failed, parse_gates

    checks = {"labels/fresh": {"passed": False, "value": 3.0, "limit": 0.0,
                               "detail": "3 unseen labels"},
              "shadow/agreement": {"passed": True, "value": 1.0, "limit": 0.95, "detail": ""}}
    rows = evaluate(parse_gates({}), {}, {}, None, checks=checks)
    assert [(r.gate, r.metric, r.passed) for r in rows] == [("check", "labels/fresh", False)]
    assert failed(rows)[0].detail == "3 unseen labels"
