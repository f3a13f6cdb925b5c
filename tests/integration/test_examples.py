"""The example notebooks, run for real through papermill on the repository's configs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.metrics import Recorded, RunResult, read_records
from runner.monitor.profile import load_profile
from runner.report.gates import evaluate, failed, parse_gates
from runner.report.render import NotebookReport, metrics_table

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "notebooks" / "training_example.ipynb"
INFERENCE = ROOT / "notebooks" / "inference_example.ipynb"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records and MLflow runs go under tmp_path; the kernel inherits this environment."""
    out = tmp_path / "out"
    monkeypatch.setenv("DS_RUNNER_OUTPUT_DIR", str(out))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    return out


def execute(notebook: Path, tmp_path: Path, **parameters: Any) -> Path:
    import papermill

    output = tmp_path / f"executed-{notebook.name}"
    papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                               cwd=str(ROOT), kernel_name="python3", progress_bar=False)
    return output


def write_config(tmp_path: Path, source: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    data = yaml.safe_load((ROOT / source).read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / source
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_training_records_a_real_model(tmp_path: Path, kernel_env: Path) -> None:
    committed = _sha256(ROOT / "xgb_model.json")
    model = tmp_path / "model" / "xgb_model.json"
    config = write_config(tmp_path, "training_config.yaml",
                          lambda d: d["model"].update(output_path=str(model)))

    execute(TRAINING, tmp_path, config_path=str(config), output_dir=str(kernel_env), n_trials=2)

    rec = read_records(kernel_env)
    m = rec.metrics
    assert m["auc"] > 0.9 and m["accuracy"] > 0.85 and m["f1"] > 0.85
    assert 0 < m["logloss"] < 0.5
    assert m["trials_completed"] == 2
    assert 0 < m["training_time_s"] < 60 and 0 < m["tuning_time_s"] < 60
    assert 0 < m["latency_p95_ms"] < 1000
    committed_config = yaml.safe_load((ROOT / "training_config.yaml").read_text())
    named = set(committed_config["metrics"]) | set(committed_config["gates"]["thresholds"])
    assert named <= set(m), "the config names metrics the notebook does not record"
    _assert_data_checked(rec, "training", 8)
    _assert_slices_gated(rec, committed_config)
    for name in ("roc", "feature_importance"):
        figure = kernel_env / rec.figures[name]
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rec.info["model_path"] == model.as_posix()
    assert json.loads(model.read_text())["learner"]["feature_names"][0] == "mean radius"
    assert (kernel_env / "xgb_model.json").read_bytes() == model.read_bytes()
    profile_path = model.with_name("xgb_model.profile.json")   # the drift reference
    profile = load_profile(profile_path)
    assert (profile["rows"], profile["score_rows"], len(profile["features"])) == (455, 114, 30)
    assert (kernel_env / profile_path.name).read_bytes() == profile_path.read_bytes()
    assert rec.info["reference_profile"] == profile_path.as_posix()
    assert len((kernel_env / "optuna_trials.csv").read_text().splitlines()) == 1 + 2
    run_dir = Path(rec.info["mlflow_run_url"].removeprefix("file://"))
    assert run_dir.name == rec.info["mlflow_run_id"]
    assert (run_dir / "metrics" / "auc").is_file()
    assert (run_dir / "artifacts" / "optuna" / "optuna_trials.csv").is_file()
    assert list(run_dir.parent.glob("models/*/artifacts/MLmodel")), "model not logged to MLflow"
    assert list(run_dir.parent.glob("models/*/artifacts/extra_files/reference_profile.json"))
    assert _sha256(ROOT / "xgb_model.json") == committed, "the committed model was overwritten"


def _assert_data_checked(rec: Recorded, dataset: str, count: int) -> None:
    """The notebook ran its config's data checks on its data and every one passed."""
    checks = {n: c for n, c in rec.checks.items() if n.startswith(f"data/{dataset}/")}
    assert len(checks) == count and all(c["passed"] for c in checks.values()), checks


def _assert_slices_gated(rec: Recorded, config: dict[str, Any]) -> None:
    """The test split is scored per `mean radius` band, the committed slice gates pass on it
    and the report names the worst band next to the overall metric."""
    auc = rec.slices["auc"]
    assert auc["by"] == "mean radius band" and list(auc["counts"]) == ["small", "medium", "large"]
    assert sum(auc["counts"].values()) == 114 and min(auc["counts"].values()) >= 30
    assert set(auc["values"]) | set(auc["skipped"]) == {"small", "medium", "large"}
    assert set(config["gates"]["slices"]) <= set(rec.slices)
    rows = evaluate(parse_gates({"gates": {"slices": config["gates"]["slices"]}}), rec.metrics,
                    {}, None, slices=rec.slices)
    assert len(rows) == 3 and not failed(rows), [r.detail for r in rows]
    worst = min(auc["values"], key=auc["values"].__getitem__)
    result = RunResult("training_example.ipynb", "success", metrics=rec.metrics,
                       slices=rec.slices)
    assert f"· worst mean radius band `{worst}` " in metrics_table(NotebookReport(result), [])


def test_inference_scores_the_committed_model(tmp_path: Path, kernel_env: Path) -> None:
    execute(INFERENCE, tmp_path, output_dir=str(kernel_env))

    rec = read_records(kernel_env)
    rows = len((ROOT / "data" / "inference_input.csv").read_text().splitlines()) - 1
    predictions = kernel_env / "predictions.csv"
    lines = predictions.read_text().splitlines()
    assert lines[0] == "patient_id,score,label"
    assert len(lines) - 1 == rows == rec.metrics["rows_scored"] == 569
    assert 0.5 < rec.metrics["positive_rate"] < 0.75  # 63 % of the data set is class 1
    assert 0 < rec.metrics["mean_score"] < 1
    assert 0 < rec.metrics["latency_p95_ms"] < 1000 and rec.metrics["batch_latency_ms"] > 0
    assert (kernel_env / rec.figures["score_distribution"]).is_file()
    assert rec.info["predictions_path"] == predictions.as_posix()
    assert rec.info["model_sha256"] == _sha256(ROOT / "xgb_model.json")
    assert rec.info["model_uri"] == "xgb_model.json"   # model.uri's `release`: no tag, fallback
    _assert_data_checked(rec, "input", 9)
    config = yaml.safe_load((ROOT / "inference_config.yaml").read_text())
    drift = evaluate(parse_gates({"gates": {"drift": config["gates"]["drift"]}}), rec.metrics,
                     {}, None)
    assert len(drift) == 4 and not failed(drift), [r.detail for r in drift]
    assert rec.info["reference_profile"] == "xgb_model.profile.json"
    _assert_input_kept(kernel_env / rec.info["scored_input"], predictions)


def _assert_input_kept(kept: Path, predictions: Path) -> None:
    """The rows scored, as `ds-runner shadow` reads them back: the model's features in its
    order, and the committed model gives them the same scores again."""
    from runner.monitor.datafile import read_table as read_frame
    from runner.monitor.shadow import load_model

    frame = read_frame(kept)
    model = load_model(ROOT / "xgb_model.json")
    assert kept.name == "scored_input.csv" and list(frame.columns) == model.features
    scores = read_frame(predictions)["score"].to_numpy()
    assert len(frame) == len(scores) and abs(model(frame) - scores).max() < 1e-6


def test_the_drifted_sample_fails_the_drift_gates_by_name(tmp_path: Path,
                                                          kernel_env: Path) -> None:
    execute(INFERENCE, tmp_path, output_dir=str(kernel_env),
            input_path="data/inference_input_drifted.csv")

    rec = read_records(kernel_env)
    config = yaml.safe_load((ROOT / "inference_config.yaml").read_text())
    rows = failed(evaluate(parse_gates(config), rec.metrics, {}, None, checks=rec.checks))
    assert [(r.gate, r.metric) for r in rows] == [
        ("drift", "drift/score_psi"), ("drift", "drift/psi/worst_area"),
        ("drift", "drift/ks_p/worst_area")]
    assert "worst_area" in rows[1].detail and "mean_radius" in rows[1].detail
    assert "worst_concave_points" in rows[1].detail


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = keys
        node = data
        for key in parents:
            node = node[key]
        del node[last]
    return edit


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = keys
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return edit


BAD_CONFIGS = [
    pytest.param(TRAINING, "training_config.yaml", _drop("optuna", "seed"),
                 "missing required key 'optuna.seed'", id="training-missing-key"),
    pytest.param(TRAINING, "training_config.yaml", _set("many", "optuna", "n_trials"),
                 "'optuna.n_trials' must be an integer, got 'many'", id="training-wrong-type"),
    pytest.param(TRAINING, "training_config.yaml", _set("rmse", "optuna", "metric"),
                 "'optuna.metric' must be one of auc, accuracy, f1, logloss, got 'rmse'",
                 id="training-unknown-metric"),
    pytest.param(INFERENCE, "inference_config.yaml", _drop("fields", "id"),
                 "missing required key 'fields.id'", id="inference-missing-key"),
    pytest.param(INFERENCE, "inference_config.yaml", _set("high", "threshold"),
                 "'threshold' must be a number, got 'high'", id="inference-wrong-type"),
    pytest.param(INFERENCE, "inference_config.yaml",
                 _set({"direction": "lower"}, "metrics", "rmse"),
                 "unknown metric 'metrics.rmse'", id="inference-unknown-metric"),
    pytest.param(INFERENCE, "inference_config.yaml", _set("xgb_model.json", "model", "uri"),
                 "'model.uri': model URI 'xgb_model.json' is not models:/<name>/<version>",
                 id="inference-bad-model-uri"),
    pytest.param(INFERENCE, "inference_config.yaml", _drop("fields", "features", "worst area"),
                 "'fields.features' maps no input column to model feature 'worst area'",
                 id="inference-unmapped-feature"),
]


@pytest.mark.parametrize(("notebook", "source", "edit", "message"), BAD_CONFIGS)
def test_bad_config_fails_naming_the_key(tmp_path: Path, kernel_env: Path, notebook: Path,
                                         source: str, edit: Callable[[dict[str, Any]], None],
                                         message: str) -> None:
    from papermill.exceptions import PapermillExecutionError

    config = write_config(tmp_path, source, edit)
    with pytest.raises(PapermillExecutionError) as caught:
        execute(notebook, tmp_path, config_path=str(config), output_dir=str(kernel_env))
    assert caught.value.ename == "ConfigError"
    assert message in caught.value.evalue
    assert read_records(kernel_env).metrics == {}, "nothing may be recorded from a bad config"


def test_both_examples_through_ds_runner_execute(tmp_path: Path, kernel_env: Path) -> None:
    """The runner's own path: parameters injected by ds-runner, metrics.json written."""
    from runner.execute.notebook import RunOptions, execute_notebook

    model = tmp_path / "model" / "xgb_model.json"
    config = write_config(tmp_path, "training_config.yaml",
                          lambda d: d["model"].update(output_path=str(model)))
    out = tmp_path / "runner-out"
    training = execute_notebook("notebooks/training_example.ipynb",
                                RunOptions(repo=ROOT, output_dir=out,
                                           parameters={"n_trials": "2"},
                                           config_path=str(config), html=False))
    assert training.status == "success", training.error
    assert training.metrics["auc"] > 0.9 and training.metrics["trials_completed"] == 2
    assert {"roc", "feature_importance"} <= set(training.figures)
    assert training.info["mlflow_run_id"] and model.is_file()
    assert training.parameters["output_dir"] == str(out / "notebooks" / "training_example")

    inference = execute_notebook("notebooks/inference_example.ipynb",
                                 RunOptions(repo=ROOT, output_dir=out, html=False))
    assert inference.status == "success", inference.error
    assert inference.parameters["config_path"] == "inference_config.yaml"
    folder = out / "notebooks" / "inference_example"
    assert inference.metrics["rows_scored"] == 569
    assert len((folder / "predictions.csv").read_text().splitlines()) == 1 + 569
    assert (folder / "metrics.json").is_file()
