"""runner.models without a registry: model URIs, the release version, the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import UsageError
from runner.models import parse_model_uri, release_version, resolve_model, shown, version_of
from runner.publish.registry import ci_target


def test_parse_model_uri() -> None:
    assert parse_model_uri("models:/breast-cancer-xgb/1.2.3") == ("breast-cancer-xgb", "1.2.3")
    assert parse_model_uri(" models:/m/release ") == ("m", "release")
    for bad in ("xgb_model.json", "models:/m", "models:/m/1/2", "runs:/abc/model"):
        with pytest.raises(UsageError, match="is not models:/<name>/<version>"):
            parse_model_uri(bad)


def test_version_of_a_tag() -> None:
    assert version_of("v1.2.3") == "1.2.3"
    assert version_of("1.2.3") == "1.2.3"
    assert version_of("vnext") == "vnext"


def test_release_version_only_on_production_tags() -> None:
    assert release_version({"CI_COMMIT_TAG": "v1.2.3"}) == "1.2.3"
    assert release_version({"CI_COMMIT_TAG": "dev-1.2.3"}) == ""
    assert release_version({}) == ""
    custom = {"CI_COMMIT_TAG": "release-7", "DS_PRODUCTION_TAG_REGEX": r"^release-\d+$"}
    assert release_version(custom) == "release-7"
    with pytest.raises(UsageError, match="DS_PRODUCTION_TAG_REGEX"):
        release_version({"CI_COMMIT_TAG": "v1", "DS_PRODUCTION_TAG_REGEX": "("})


def test_fallback_without_uri_carries_its_profile(tmp_path: Path) -> None:
    model = tmp_path / "xgb_model.json"
    model.write_text("{}")
    got = resolve_model(None, model, environ={})
    assert (got.model_file, got.profile_file, got.uri, got.version) == (
        model, None, model.as_posix(), "")
    profile = tmp_path / "xgb_model.profile.json"
    profile.write_text("{}")
    assert resolve_model("", model, environ={}).profile_file == profile


def test_release_outside_a_production_tag_falls_back_and_says_why(tmp_path: Path) -> None:
    model = tmp_path / "xgb_model.json"
    model.write_text("{}")
    got = resolve_model("models:/m/release", model, environ={"CI_COMMIT_TAG": "dev-1.0.0"})
    assert got.model_file == model and got.version == ""
    assert "not a production tag pipeline" in got.note


def test_missing_fallback_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        resolve_model(None, tmp_path / "nope.json", environ={})


def test_credentials_are_not_shown() -> None:
    assert shown("https://bob:s3cret@mlflow.example/") == "https://mlflow.example/"
    assert shown("http://bob:s3cret@mlflow.example:5000/x") == "http://mlflow.example:5000/x"
    assert shown("file:///tmp/mlruns") == "file:///tmp/mlruns"


def test_ci_target_needs_a_token_or_a_tracking_uri() -> None:
    none = ci_target({}, "https://gl.example/api/v4", "7", "")
    assert none.env == {} and "GITLAB_TOKEN" in none.note
    gitlab = ci_target({}, "https://gl.example/api/v4", "7", "glpat-secret-1")
    assert gitlab.uri == "https://gl.example/api/v4/projects/7/ml/mlflow"
    assert gitlab.env["MLFLOW_TRACKING_TOKEN"] == "glpat-secret-1"
    assert "GITLAB_TOKEN" not in gitlab.env
    own = ci_target({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, "", "", "glpat-secret-1")
    assert own.env == {"MLFLOW_TRACKING_URI": "http://mlflow:5000"}
