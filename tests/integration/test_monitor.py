"""``ds-runner monitor`` against the GitLab emulator: a drifted scheduled run fails and starts
exactly one retraining pipeline, the cool-down holds off a second, ``--dry-run`` sends nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.errors import ExitCode
from runner.metrics import RunResult
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import Scene, make_scene
from tests.report_helpers import write_result

pytestmark = pytest.mark.integration
NOTEBOOK = "notebooks/score.ipynb"
TRAINING = "notebooks/train.ipynb"
CONFIG = f"""\
gates:
  drift:
    score_psi: {{max: 0.2}}
    feature_psi: {{max: 0.25}}
retrain:
  notebook: {TRAINING}
  cooldown: 1d
"""
QUIET = {"drift/score_psi": 0.01, "drift/psi/mean_radius": 0.02, "drift/psi/worst_area": 0.03}
DRIFTED = {"drift/score_psi": 0.37, "drift/psi/mean_radius": 1.28, "drift/psi/worst_area": 3.2}


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    (tmp_path / "score_config.yaml").write_text(CONFIG, encoding="utf-8")
    return s


def scored(scene: Scene, metrics: dict[str, float], status: str = "success") -> None:
    write_result(scene.results, RunResult(
        NOTEBOOK, status, metrics=metrics, started_at="2026-11-22T10:00:00Z",
        parameters={"config_path": str(scene.repo / "score_config.yaml")}))


def created(scene: Scene) -> list[object]:
    return [r for r in scene.emu.requests if r.method == "POST" and r.path.endswith("/pipeline")]


def retraining(scene: Scene) -> list[object]:
    return [p for p in scene.emu.state.projects[scene.project_id].pipelines.values()
            if p.source == "api"]


def test_no_results_is_nothing_to_judge(scene: Scene) -> None:
    code, out = scene.run("monitor")
    assert code == 0 and "no notebook results under .ds-runner" in out


def test_a_quiet_run_passes_and_starts_nothing(scene: Scene) -> None:
    scored(scene, QUIET)
    code, out = scene.run("monitor")
    assert code == 0, out
    assert "PASS  drift" in out and not created(scene)


def test_a_drifted_run_fails_and_starts_exactly_one_pipeline(scene: Scene) -> None:
    scored(scene, DRIFTED)
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED, out
    assert "FAIL  drift" in out and "drift/psi/worst_area" in out
    [pipeline] = retraining(scene)
    assert pipeline.ref == "main" and pipeline.status == "pending"
    variables = {v["key"]: v["value"] for v in pipeline.variables}
    assert variables["DS_RUN_NOTEBOOKS"] == TRAINING
    assert variables["DS_RETRAIN_REASON"].startswith(f"drift in {NOTEBOOK} (pipeline #100): ")
    assert "drift/score_psi" in variables["DS_RETRAIN_REASON"]
    assert f"started retraining pipeline #{pipeline.id} on main" in out
    assert len(created(scene)) == 1

    # a second drifted run within the cool-down: the running one is named, none started
    scene.pipeline(101)
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED
    assert len(retraining(scene)) == 1 and len(created(scene)) == 1
    assert f"retraining pipeline #{pipeline.id} on main is pending" in out
    assert "not starting another" in out

    # it succeeded an hour ago: still within the cool-down of a day
    pipeline.status = "success"
    pipeline.updated_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    code, out = scene.run("monitor")
    assert len(retraining(scene)) == 1 and f"#{pipeline.id} on main succeeded" in out

    # two days later the cool-down is over: a new one starts
    pipeline.updated_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED and len(retraining(scene)) == 2
    assert len(created(scene)) == 2


def test_a_failed_retraining_does_not_hold_off_the_next(scene: Scene) -> None:
    scored(scene, DRIFTED)
    scene.run("monitor")
    [first] = retraining(scene)
    first.status = "failed"
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED
    assert len(retraining(scene)) == 2 and "started retraining pipeline" in out


def test_someone_elses_pipeline_with_the_same_variables_does_not_count(scene: Scene) -> None:
    alice = scene.emu.state.user_by_name("alice")
    other = scene.emu.add_pipeline(scene.project_id, ref="main", status="running", source="api",
                                   user=alice)
    other.variables = [{"key": "DS_RUN_NOTEBOOKS", "value": TRAINING, "variable_type": "env_var"},
                       {"key": "DS_RETRAIN_REASON", "value": "x", "variable_type": "env_var"}]
    scored(scene, DRIFTED)
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED
    assert len(retraining(scene)) == 2 and "started retraining pipeline" in out


def test_dry_run_sends_nothing_and_prints_the_request(scene: Scene) -> None:
    scored(scene, DRIFTED)
    code, out = scene.run("monitor", "--dry-run")
    assert code == ExitCode.GATE_FAILED
    assert not created(scene) and not retraining(scene)
    assert f"[dry-run] POST /projects/{scene.project_id}/pipeline" in out
    assert '"key": "DS_RUN_NOTEBOOKS"' in out and f'"value": "{TRAINING}"' in out
    assert '"ref": "main"' in out and "would start a retraining pipeline on main" in out


def test_a_run_that_measured_no_drift_fails_without_retraining(scene: Scene) -> None:
    scored(scene, {"rows_scored": 0.0}, status="failed")
    code, out = scene.run("monitor")
    assert code == ExitCode.GATE_FAILED
    assert "drift was not measured (run failed); no retraining" in out and not created(scene)


def test_variables_refused_by_the_project_role_setting_name_the_setting(scene: Scene) -> None:
    scene.emu.state.projects[scene.project_id].pipeline_variables_role = "owner"
    scored(scene, DRIFTED)
    code, out = scene.run("monitor")
    assert code == ExitCode.GITLAB
    assert "Insufficient permissions to set pipeline variables" in out
    assert not retraining(scene)


def test_the_job_token_alone_is_not_enough(scene: Scene) -> None:
    scene.monkeypatch.delenv("GITLAB_TOKEN")
    scene.monkeypatch.setenv("CI_JOB_TOKEN", "glcbt-123")
    scored(scene, DRIFTED)
    code, out = scene.run("monitor")
    assert code == ExitCode.MISSING_TOKEN
    assert "GitLab does not accept CI_JOB_TOKEN for starting pipelines" in out
