from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import Config, default_config_for, load_yaml, metric_directions
from runner.errors import ConfigError


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match=r"c.yaml: invalid YAML at line \d+"):
        load_yaml(path)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(path)


def test_get_names_missing_and_mistyped_keys() -> None:
    cfg = Config({"optuna": {"n_trials": "ten", "seed": 1, "direction": "up"}}, "training.yaml")
    with pytest.raises(ConfigError, match=r"training\.yaml: missing required key 'optuna\.metric'"):
        cfg.get("optuna.metric", str)
    with pytest.raises(ConfigError, match=r"'optuna\.n_trials' must be an integer, got 'ten'"):
        cfg.get("optuna.n_trials", int)
    with pytest.raises(ConfigError, match=r"'optuna\.direction' must be one of"):
        cfg.get("optuna.direction", str, choices=("maximize", "minimize"))
    assert cfg.get("optuna.seed", int) == 1
    assert cfg.get("optuna.seed", float) == 1.0
    assert cfg.get("optuna.timeout", int, None) is None


def test_bool_is_not_an_integer() -> None:
    with pytest.raises(ConfigError):
        Config({"n": True}).get("n", int)


def test_metric_directions_default_higher_and_validate() -> None:
    assert metric_directions({"metrics": {"latency": {"direction": "lower"}, "auc": {}}}) == {
        "latency": "lower", "auc": "higher"}
    with pytest.raises(ConfigError, match=r"metrics\.x\.direction"):
        metric_directions({"metrics": {"x": {"direction": "down"}}})


@pytest.mark.parametrize("notebook,expected", [
    ("notebooks/training_example.ipynb", "training_config.yaml"),
    ("notebooks/inference_example.ipynb", "inference_config.yaml"),
    ("notebooks/daily_scoring.ipynb", "inference_config.yaml"),
    ("notebooks/explore.ipynb", "training_config.yaml"),
])
def test_default_config_for(notebook: str, expected: str) -> None:
    assert default_config_for(notebook) == expected


def test_notebook_metadata_wins() -> None:
    assert default_config_for("x.ipynb", {"ds_runner": {"config": "other.yaml"}}) == "other.yaml"
