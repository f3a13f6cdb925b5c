"""runner.publish.registry before any registry is contacted: which model, which files, and
what a dry run, a failed run or a missing model file do."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ModelRegistryError
from runner.publish.registry import Target, model_name, register_run, release_files
from runner.report.runs import LocalRun
from tests.report_helpers import make_result, write_result

TARGET = Target({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})   # never reached here


def run_in(tmp_path: Path, *, name: str = "m", status: str = "success",
           model: bool = True) -> LocalRun:
    result = make_result(status=status, info={"model_path": "xgb_model.json"})
    folder = write_result(tmp_path / ".ds-runner", result)
    if not model:
        (folder / "xgb_model.json").unlink()
    config = {"mlflow": {"registered_model_name": name}} if name else {}
    return LocalRun(folder, result, ".ds-runner/notebooks/train", config)


def test_model_name_and_files(tmp_path: Path) -> None:
    run = run_in(tmp_path)
    assert model_name(run) == "m"
    model, profile = release_files(run) or (None, None)
    assert model == run.folder / "xgb_model.json" and profile is None
    (run.folder / "xgb_model.profile.json").write_text("{}")      # the drift reference
    assert release_files(run) == (model, run.folder / "xgb_model.profile.json")
    (run.folder / "reference_profile.json").write_text("{}")
    assert release_files(run) == (model, run.folder / "reference_profile.json")


def test_without_a_name_nothing_is_registered(tmp_path: Path) -> None:
    got = register_run(run_in(tmp_path, name=""), TARGET, "v1.0.0", "abc", dry_run=False)
    assert not got.state and "mlflow.registered_model_name" in got.note
    assert got.markdown().startswith("not registered (no `mlflow.registered_model_name`")


def test_dry_run_and_failed_run_register_nothing(tmp_path: Path) -> None:
    dry = register_run(run_in(tmp_path), TARGET, "v1.2.3", "abc", dry_run=True)
    assert (dry.uri, dry.state) == ("models:/m/1.2.3", "would register")
    assert dry.markdown() == "`models:/m/1.2.3` (dry run: would register)"
    failed = register_run(run_in(tmp_path / "f", status="failed"), TARGET, "v1.2.3", "abc",
                          dry_run=False)
    assert not failed.state and failed.note == "the run failed"


def test_no_registry_says_so(tmp_path: Path) -> None:
    got = register_run(run_in(tmp_path), Target({}, "no model registry: set GITLAB_TOKEN"),
                       "v1.2.3", "abc", dry_run=False)
    assert not got.state and got.note == "no model registry: set GITLAB_TOKEN"


def test_a_named_model_without_its_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelRegistryError, match=r"no model file to register as models:/m/1\.2\.3"):
        register_run(run_in(tmp_path, model=False), TARGET, "v1.2.3", "abc", dry_run=True)
