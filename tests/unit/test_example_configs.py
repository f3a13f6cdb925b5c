"""The committed example configs, notebooks, model and input data agree; runner.examples helpers."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import nbformat
import pandas as pd
import pytest

from runner.config import Config, default_config_for, metric_directions
from runner.errors import ConfigError
from runner.examples import (
    check_metric_names,
    configure_mlflow,
    mlflow_run_url,
    p95_ms,
    positive,
    resolve_under,
)
from runner.report.gates import NoRegression, Threshold, parse_gates

ROOT = Path(__file__).resolve().parents[2]
TRAINING_METRICS = {"auc", "accuracy", "f1", "logloss", "training_time_s", "tuning_time_s",
                    "latency_p95_ms", "trials_completed"}
INFERENCE_METRICS = {"rows_scored", "latency_p95_ms", "batch_latency_ms", "positive_rate",
                     "mean_score", "drift/score_psi", "drift/score_ks_p", "drift/psi_max",
                     "drift/psi/*", "drift/ks/*", "drift/ks_p/*", "drift/missing/*"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_examples", ROOT / "scripts" / "make_examples.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_config_carries_the_documented_keys() -> None:
    cfg = Config.load(ROOT / "training_config.yaml")
    assert cfg.get("outcome", str) == "target"
    assert cfg.get("optuna.n_trials", int) >= 10
    assert cfg.get("optuna.timeout_s", float) > 0
    assert cfg.get("optuna.metric", str, choices=("auc", "accuracy", "f1", "logloss")) == "auc"
    assert cfg.get("optuna.direction", str) == "maximize"
    assert isinstance(cfg.get("optuna.seed", int), int)
    assert cfg.get("mlflow.experiment_name", str)
    assert cfg.get("model.output_path", str) == "xgb_model.json"
    directions = check_metric_names(cfg, TRAINING_METRICS)
    assert {name for name, d in directions.items() if d == "lower"} == {
        "logloss", "training_time_s", "tuning_time_s", "latency_p95_ms"}
    gates = parse_gates(cfg.data, cfg.source)
    assert {(t.metric, t.minimum, t.maximum) for t in gates.checks
            if isinstance(t, Threshold)} == {("auc", 0.95, None), ("latency_p95_ms", None, 20.0)}
    assert [(g.metric, g.tolerance) for g in gates.checks
            if isinstance(g, NoRegression)] == [("auc", 0.01)]


def test_inference_config_maps_every_model_feature_to_an_input_column() -> None:
    cfg = Config.load(ROOT / "inference_config.yaml")
    model_path = ROOT / cfg.get("model.path", str)
    features = json.loads(model_path.read_text())["learner"]["feature_names"]
    mapping = cfg.get("fields.features", dict)
    assert list(mapping) == features  # same names, in the model's order
    with open(ROOT / cfg.get("input.path", str), newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = sum(1 for _ in reader)
    assert header == [cfg.get("fields.id", str), *mapping.values()]
    assert rows == 569
    assert 0 < cfg.get("threshold", float) < 1
    assert cfg.get("output.path", str) == "predictions.csv"
    check_metric_names(cfg, INFERENCE_METRICS)
    assert metric_directions(cfg.data)["latency_p95_ms"] == "lower"
    assert {t.metric for t in parse_gates(cfg.data).checks if isinstance(t, Threshold)} == {
        "rows_scored", "latency_p95_ms", "positive_rate"}


@pytest.mark.parametrize("name", ["training_example", "inference_example"])
def test_notebooks_declare_what_ds_runner_injects(name: str) -> None:
    path = f"notebooks/{name}.ipynb"
    nb = nbformat.read(ROOT / path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.metadata["tags"] == ["parameters"]
    source = first_code.source
    assert f'config_path = "{default_config_for(path, nb.metadata)}"' in source
    assert 'device = "cpu"' in source
    assert f'output_dir = ".ds-runner/notebooks/{name}"' in source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_committed_notebooks_match_their_generator() -> None:
    gen = _generator()
    for name, cells in (("training_example", gen.TRAINING), ("inference_example", gen.INFERENCE)):
        committed = (ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8")
        assert nbformat.writes(gen.build(cells)) + "\n" == committed, (
            f"notebooks/{name}.ipynb is out of date: run python scripts/make_examples.py")


def test_committed_input_matches_its_generator(tmp_path: Path) -> None:
    _generator().write_input(tmp_path / "input.csv")
    assert (tmp_path / "input.csv").read_bytes() == (ROOT / "data/inference_input.csv").read_bytes()


def test_check_metric_names_rejects_unknown_metrics_naming_the_key() -> None:
    known = {"auc", "latency_p95_ms"}
    ok = Config({"metrics": {"latency_p95_ms": {"direction": "lower"}},
                 "gates": {"thresholds": {"auc": {"min": 0.9}},
                           "no_regression": [{"metric": "auc", "tolerance": 0.01}]}}, "c.yaml")
    assert check_metric_names(ok, known) == {"latency_p95_ms": "lower"}
    cases = [
        ({"metrics": {"rmse": {"direction": "lower"}}}, "unknown metric 'metrics.rmse'"),
        ({"metrics": {"auc": {"direction": "up"}}}, "'metrics.auc.direction' must be one of"),
        ({"gates": {"thresholds": {"precision": {"min": 1}}}},
         "unknown metric 'gates.thresholds.precision'"),
        ({"gates": {"no_regression": [{"metric": "auc"}, {"metric": "f2"}]}},
         "'gates.no_regression[1].metric'"),
        ({"gates": {"thresholds": {"auc": {"min": "high"}}}},
         "'gates.thresholds.auc.min' must be a number"),
    ]
    for data, message in cases:
        with pytest.raises(ConfigError, match=r"^c\.yaml: ") as caught:
            check_metric_names(Config(data, "c.yaml"), known)
        assert message in str(caught.value)


def test_positive_names_the_key() -> None:
    positive(Config({}, "c.yaml"), "optuna.timeout_s", 0.5)
    with pytest.raises(ConfigError, match=r"'optuna\.n_trials' must be greater than 0, got 0$"):
        positive(Config({}, "c.yaml"), "optuna.n_trials", 0)


def test_configure_mlflow_allows_the_local_file_store(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env: dict[str, str] = {}
    uri = configure_mlflow(env)
    assert uri == (tmp_path / ".ds-runner" / "mlruns").resolve().as_uri()
    assert env == {"MLFLOW_TRACKING_URI": uri, "MLFLOW_ALLOW_FILE_STORE": "true"}

    env = {"MLFLOW_TRACKING_URI": "sqlite:///m.db"}
    assert configure_mlflow(env) == "sqlite:///m.db" and "MLFLOW_ALLOW_FILE_STORE" not in env

    env = {"CI_API_V4_URL": "https://gl.example/api/v4", "CI_PROJECT_ID": "7",
           "GITLAB_TOKEN": "glpat-secret"}
    assert configure_mlflow(env) == "https://gl.example/api/v4/projects/7/ml/mlflow"
    assert env["MLFLOW_TRACKING_TOKEN"] == "glpat-secret"
    assert "MLFLOW_ALLOW_FILE_STORE" not in env


def test_mlflow_run_url_is_browsable_where_possible() -> None:
    gitlab = "https://gl.example/api/v4/projects/7/ml/mlflow"
    assert mlflow_run_url(gitlab, "3", "abc", {"CI_PROJECT_URL": "https://gl.example/g/p"}) == (
        "https://gl.example/g/p/-/ml/experiments/3")
    assert mlflow_run_url(gitlab + "/", "3", "abc", {"CI_PROJECT_PATH": "g/p"}) == (
        "https://gl.example/g/p/-/ml/experiments/3")
    assert mlflow_run_url(gitlab, "3", "abc", {}) == (
        f"{gitlab}/api/2.0/mlflow/runs/get?run_id=abc")
    assert mlflow_run_url("http://127.0.0.1:5000", "1", "abc", {}) == (
        "http://127.0.0.1:5000/#/experiments/1/runs/abc")
    assert mlflow_run_url("file:///r/.ds-runner/mlruns", "9", "abc", {}) == (
        "file:///r/.ds-runner/mlruns/9/abc")
    assert mlflow_run_url("sqlite:///m.db", "9", "abc", {}) == "sqlite:///m.db run abc"


def test_p95_ms_interpolates() -> None:
    assert p95_ms([0.001] * 19 + [0.021]) == pytest.approx(2.0)
    assert p95_ms(i / 1000 for i in range(101)) == pytest.approx(95.0)
    assert p95_ms([0.004]) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        p95_ms([])


def test_resolve_under(tmp_path: Path) -> None:
    assert resolve_under("out/nb", "predictions.csv") == Path("out/nb/predictions.csv")
    assert resolve_under("out/nb", str(tmp_path / "p.csv")) == tmp_path / "p.csv"


def test_the_committed_reference_profile_is_the_shipped_models(tmp_path: Path) -> None:
    """xgb_model.profile.json is what make_examples.py (and the training notebook) make from
    the committed model; the drifted sample differs from the shipped input in three features."""
    gen = _generator()
    shutil.copyfile(ROOT / "xgb_model.json", tmp_path / "xgb_model.json")
    made = gen.write_reference_profile(tmp_path / "xgb_model.json", ROOT / "training_config.yaml")
    assert made.read_text() == (ROOT / "xgb_model.profile.json").read_text(), (
        "xgb_model.profile.json is out of date: run python scripts/make_examples.py")
    gen.write_drifted_input(ROOT / "data" / "inference_input.csv", tmp_path / "drifted.csv")
    drifted = (ROOT / "data" / "inference_input_drifted.csv").read_text()
    assert (tmp_path / "drifted.csv").read_text() == drifted
    shipped = pd.read_csv(ROOT / "data" / "inference_input.csv")
    moved = [c for c in shipped.columns if not shipped[c].equals(pd.read_csv(
        ROOT / "data" / "inference_input_drifted.csv")[c])]
    assert moved == ["mean_radius", "worst_area", "worst_concave_points"]
