"""``ds-runner shadow`` then ``ds-runner release`` on a production tag, against the GitLab
emulator through the real python-gitlab client, with real XGBoost models: the candidate is
compared with the production release's model on the rows a scheduled scoring job kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.report.gates.shadow import SHADOW_FILE
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import MAIN_SHA, Scene, make_scene, release_description
from tests.report_helpers import TRAINING_CONFIG, make_result, write_config, write_result
from tests.shadow_helpers import frame, train_model

pytestmark = pytest.mark.integration
TRAIN = "notebooks/train.ipynb"
SCORE_DIR = ".ds-runner/notebooks/score"
MODEL_PATH = ".ds-runner/notebooks/train/xgb_model.json"
SHADOW_CONFIG = TRAINING_CONFIG + """\
  shadow:
    scoring_notebook: notebooks/score.ipynb
    min_agreement: 0.95
    max_score_psi: 0.1
    max_latency_ratio: 20
"""


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.pipeline(500, CI_COMMIT_TAG="v1.1.0")
    write_config(tmp_path, SHADOW_CONFIG)
    return s


def production_release(scene: Scene, models: Path) -> int:
    """Release v1.0.0, whose model link (the by-ref form ds-runner release writes) reaches the
    production model in the tag's execute-notebook job."""
    emu, pid = scene.emu, scene.project_id
    model = train_model(models / "production.json").read_bytes()
    pipeline = emu.add_pipeline(pid, ref="v1.0.0", sha=MAIN_SHA)
    job = emu.add_job(pid, ref="v1.0.0", name="execute-notebook", sha=MAIN_SHA, tag=True,
                      pipeline=pipeline, artifacts={MODEL_PATH: model})
    web = f"{emu.url}/group/ds-example/-"
    emu.add_release(pid, "v1.0.0", description=release_description(
        "v1.0.0", {"auc": 0.97, "logloss": 0.21}), links=[{
            "name": f"Model file xgb_model.json of {TRAIN}", "link_type": "package",
            "url": f"{web}/jobs/artifacts/v1.0.0/raw/{MODEL_PATH}?job=execute-notebook"}])
    return job.id


def scheduled_run(scene: Scene, rows: str) -> int:
    """A successful scheduled scoring job that kept its input, and a newer job of the same
    name in a push pipeline (not a schedule), which must not be read."""
    emu, pid = scene.emu, scene.project_id
    metrics = make_result("notebooks/score.ipynb", metrics={"rows": 300},
                          info={"scored_input": "scored_input.csv"}).to_dict()
    schedule = emu.add_pipeline(pid, ref="main", sha=MAIN_SHA, source="schedule")
    job = emu.add_job(pid, ref="main", name="execute-scheduled", sha=MAIN_SHA,
                      pipeline=schedule, artifacts={f"{SCORE_DIR}/metrics.json":
                                                    json.dumps(metrics),
                                                    f"{SCORE_DIR}/scored_input.csv": rows})
    push = emu.add_pipeline(pid, ref="main", sha=MAIN_SHA, source="push")
    emu.add_job(pid, ref="main", name="execute-scheduled", sha=MAIN_SHA, pipeline=push,
                artifacts={f"{SCORE_DIR}/metrics.json": json.dumps(metrics),
                           f"{SCORE_DIR}/scored_input.csv": "f_a\nnot-a-number\n"})
    return job.id


def candidate(scene: Scene, models: Path, *, flip: bool) -> Path:
    folder = write_result(scene.results, make_result(TRAIN, info={
        "model_path": "xgb_model.json"}))
    train_model(models / "candidate.json", flip=flip)
    (folder / "xgb_model.json").write_bytes((models / "candidate.json").read_bytes())
    return folder


def shadow_rows(folder: Path) -> dict[str, dict[str, object]]:
    doc = json.loads((folder / SHADOW_FILE).read_text(encoding="utf-8"))
    rows: dict[str, dict[str, object]] = doc["checks"]
    return rows


def test_a_candidate_that_flips_labels_fails_shadow_agreement(scene: Scene,
                                                              tmp_path: Path) -> None:
    production_release(scene, tmp_path / "m")
    job = scheduled_run(scene, frame().to_csv(index=False))
    folder = candidate(scene, tmp_path / "m", flip=True)
    code, out = scene.run("shadow")
    assert code == 0, out
    rows = shadow_rows(folder)
    assert rows["shadow/agreement"]["passed"] is False
    assert float(str(rows["shadow/agreement"]["value"])) < 0.2
    assert f"on the rows of scheduled [job #{job}]" in str(rows["shadow/agreement"]["detail"])
    assert "FAIL shadow/agreement" in out
    code, out = scene.run("release")
    assert code == 7, out
    assert "FAIL  shadow" in out and "shadow/agreement" in out
    assert scene.emu.release(scene.project_id, "v1.1.0") is None


def test_an_identical_candidate_passes_and_the_release_notes_show_it(scene: Scene,
                                                                     tmp_path: Path) -> None:
    production_release(scene, tmp_path / "m")
    scheduled_run(scene, frame().to_csv(index=False))
    folder = candidate(scene, tmp_path / "m", flip=False)
    code, out = scene.run("shadow")
    assert code == 0, out
    rows = shadow_rows(folder)
    assert [name for name, row in rows.items() if row["passed"]] == [
        "shadow/agreement", "shadow/score_psi", "shadow/latency_ratio"]
    assert rows["shadow/agreement"]["value"] == 1.0
    code, out = scene.run("release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.1.0")
    assert rel is not None
    assert "| shadow | `shadow/agreement` | 1 | 0.95 | ✅ pass | 1 >= 0.95; 0 of 300 labels " \
           "change (threshold 0.5) against production v1.0.0" in rel.description


def test_without_a_scheduled_run_the_gate_says_so_and_passes(scene: Scene,
                                                             tmp_path: Path) -> None:
    production_release(scene, tmp_path / "m")
    folder = candidate(scene, tmp_path / "m", flip=True)
    code, out = scene.run("shadow")
    assert code == 0, out
    [(name, row)] = shadow_rows(folder).items()
    assert name == "shadow/comparison" and row["passed"] is True
    assert "no scheduled scoring run of notebooks/score.ipynb kept its input yet" in \
        str(row["detail"])
    code, out = scene.run("release")
    assert code == 0, out
    assert "PASS  shadow" in out


def test_without_a_production_release_the_gate_says_so_and_passes(scene: Scene,
                                                                  tmp_path: Path) -> None:
    scheduled_run(scene, frame().to_csv(index=False))
    folder = candidate(scene, tmp_path / "m", flip=True)
    code, out = scene.run("shadow")
    assert code == 0, out
    [(name, row)] = shadow_rows(folder).items()
    assert name == "shadow/comparison" and row["passed"] is True
    assert "no production model to compare with: no production release yet" in str(
        row["detail"])
    assert not [r for r in scene.emu.requests if "/jobs" in r.path]   # nothing else looked up


def test_release_without_the_comparison_fails_the_gate(scene: Scene, tmp_path: Path) -> None:
    candidate(scene, tmp_path / "m", flip=False)
    code, out = scene.run("release")
    assert code == 7, out
    assert "shadow comparison not run" in out


def test_the_production_model_comes_from_the_model_registry(scene: Scene,
                                                            tmp_path: Path) -> None:
    """With mlflow.registered_model_name, production is version 1.0.0 of the registered model
    (as ds-runner release registers it), here in a local MLflow store; the release links no
    model file at all."""
    from runner.publish.registry import local_target, register_run
    from runner.report.runs import LocalRun

    store = tmp_path / "mlruns"
    scene.monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    scene.monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    write_config(tmp_path, SHADOW_CONFIG + "mlflow:\n  registered_model_name: shadow-xgb\n")
    released = tmp_path / "released"
    train_model(released / "xgb_model.json", flip=True)
    production = LocalRun(released, make_result(TRAIN, info={"model_path": "xgb_model.json"}),
                          "released", {"mlflow": {"registered_model_name": "shadow-xgb"}})
    made = register_run(production, local_target({"MLFLOW_TRACKING_URI": store.as_uri()},
                                                 tmp_path), "v1.0.0", MAIN_SHA, dry_run=False)
    assert made.uri == "models:/shadow-xgb/1.0.0"
    scene.emu.add_release(scene.project_id, "v1.0.0", description=release_description(
        "v1.0.0", {"auc": 0.97}))
    scheduled_run(scene, frame().to_csv(index=False))
    folder = candidate(scene, tmp_path / "m", flip=False)
    code, out = scene.run("shadow")
    assert code == 0, out
    doc = json.loads((folder / SHADOW_FILE).read_text(encoding="utf-8"))
    assert doc["production"] == {"tag": "v1.0.0", "source": "models:/shadow-xgb/1.0.0"}
    assert doc["checks"]["shadow/agreement"]["passed"] is False   # production was flipped


def test_with_the_job_token_the_default_branch_latest_pipeline_is_read(scene: Scene,
                                                                        tmp_path: Path) -> None:
    """CI_JOB_TOKEN may not list jobs (docs/gitlab-facts.md): the scored input comes from the
    latest successful pipeline of CI_DEFAULT_BRANCH, here the schedule; the model by its link."""
    production_release(scene, tmp_path / "m")
    emu, pid = scene.emu, scene.project_id
    metrics = make_result("notebooks/score.ipynb", info={"scored_input": "in.csv"}).to_dict()
    schedule = emu.add_pipeline(pid, ref="main", sha=MAIN_SHA, source="schedule")
    emu.add_job(pid, ref="main", name="execute-scheduled", sha=MAIN_SHA, pipeline=schedule,
                artifacts={f"{SCORE_DIR}/metrics.json": json.dumps(metrics),
                           f"{SCORE_DIR}/in.csv": frame().to_csv(index=False)})
    folder = candidate(scene, tmp_path / "m", flip=False)
    job = emu.add_job(pid, ref="v1.1.0", name="shadow-compare", status="running", sha=MAIN_SHA,
                      user="ds-bot")
    scene.monkeypatch.delenv("GITLAB_TOKEN")
    scene.monkeypatch.setenv("CI_JOB_TOKEN", emu.job_token(job))
    code, out = scene.run("shadow")
    assert code == 0, out
    rows = shadow_rows(folder)
    assert rows["shadow/agreement"]["value"] == 1.0
    assert "on the rows of job `execute-scheduled` of the latest successful pipeline on " \
        "`main`" in str(rows["shadow/agreement"]["detail"])
    refused = [r.path for r in emu.requests if r.auth != "job_token"]
    assert refused == [f"/api/v4/projects/{pid}/jobs"]      # listing jobs: not with a job token


def test_the_merge_request_comment_shows_the_comparison(scene: Scene, tmp_path: Path) -> None:
    from runner.report.comment_body import MARKER

    scene.emu.add_merge_request(scene.project_id, iid=1, source_branch="feat",
                                target_branch="main", sha=MAIN_SHA, author="alice")
    scene.monkeypatch.delenv("CI_COMMIT_TAG")
    scene.pipeline(600, CI_MERGE_REQUEST_IID="1", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    production_release(scene, tmp_path / "m")
    scheduled_run(scene, frame().to_csv(index=False))
    candidate(scene, tmp_path / "m", flip=True)
    assert scene.run("shadow")[0] == 0
    code, out = scene.run("comment")
    assert code == 0, out
    [note] = [n for n in scene.emu.notes(scene.project_id, 1) if MARKER in n.body]
    assert "| shadow | `shadow/agreement` | 0 | 0.95 | ❌ fail | 0 < 0.95; 300 of 300 labels " \
           "change" in note.body


def test_local_shadow_compares_with_the_newest_local_release(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`ds-runner shadow --local` after `ds-runner run`: production is the model `ds-runner
    release --local v1.0.0` registered in the local store, the rows those the last local run of
    the scoring notebook kept; then `ds-runner release --local v1.1.0` sees the rows."""
    from runner import cli
    from runner.publish.registry import local_target, register_run
    from runner.report.runs import LocalRun

    for name in ("MLFLOW_TRACKING_URI", "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_COMMIT_TAG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, SHADOW_CONFIG + "mlflow:\n  registered_model_name: shadow-xgb\n")
    results = tmp_path / ".ds-runner"

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        got = capsys.readouterr()
        return code, got.out + got.err

    released = tmp_path / "released"
    train_model(released / "xgb_model.json", flip=True)
    production = LocalRun(released, make_result(TRAIN, info={"model_path": "xgb_model.json"}),
                          "released", {"mlflow": {"registered_model_name": "shadow-xgb"}})
    register_run(production, local_target({}, tmp_path), "v1.0.0", MAIN_SHA, dry_run=False)
    (results / "report").mkdir(parents=True)
    (results / "report" / "release-v1.0.0.md").write_text(
        release_description("v1.0.0", {"auc": 0.97, "logloss": 0.21}), "utf-8")
    folder = write_result(results, make_result(TRAIN, info={"model_path": "xgb_model.json"}))
    (folder / "xgb_model.json").write_bytes(train_model(tmp_path / "m" / "c.json").read_bytes())

    code, out = run("shadow", "--local")
    assert code == 0, out
    [(name, row)] = shadow_rows(folder).items()
    assert name == "shadow/comparison" and row["passed"] is True
    assert "no run of notebooks/score.ipynb on this machine kept its input" in str(row["detail"])

    score = write_result(results, make_result("notebooks/score.ipynb", metrics={"rows": 300},
                                              info={"scored_input": "scored_input.csv"}))
    frame().to_csv(score / "scored_input.csv", index=False)
    code, out = run("shadow", "--local")
    assert code == 0, out
    rows = shadow_rows(folder)
    assert rows["shadow/agreement"]["passed"] is False          # v1.0.0 was flipped
    assert "against production v1.0.0, on the rows of the last run of notebooks/score.ipynb " \
           "on this machine" in str(rows["shadow/agreement"]["detail"])
    code, out = run("release", "--local", "v1.1.0")
    assert code == 7 and "shadow/agreement" in out, out


def test_ds_runner_run_finds_the_local_release_where_mlflow_tracking_uri_points(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ds-runner run` compares with the model `release --local` registered, in the store
    MLFLOW_TRACKING_URI names (as release --local and shadow --local read it), not always in
    .ds-runner/mlruns."""
    from runner.local import _shadow
    from runner.publish.registry import local_target, register_run
    from runner.report.runs import LocalRun

    for name in ("GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_COMMIT_TAG"):
        monkeypatch.delenv(name, raising=False)
    store = (tmp_path / "elsewhere" / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, SHADOW_CONFIG + "mlflow:\n  registered_model_name: shadow-xgb\n")
    results = tmp_path / ".ds-runner"
    released = tmp_path / "released"
    train_model(released / "xgb_model.json", flip=True)
    production = LocalRun(released, make_result(TRAIN, info={"model_path": "xgb_model.json"}),
                          "released", {"mlflow": {"registered_model_name": "shadow-xgb"}})
    register_run(production, local_target({"MLFLOW_TRACKING_URI": store}, tmp_path), "v1.0.0",
                 MAIN_SHA, dry_run=False)
    (results / "report").mkdir(parents=True)
    (results / "report" / "release-v1.0.0.md").write_text(
        release_description("v1.0.0", {"auc": 0.97, "logloss": 0.21}), "utf-8")
    trained = make_result(TRAIN, info={"model_path": "xgb_model.json"})
    folder = write_result(results, trained)
    (folder / "xgb_model.json").write_bytes(train_model(tmp_path / "m" / "c.json").read_bytes())
    score = write_result(results, make_result("notebooks/score.ipynb", metrics={"rows": 300},
                                              info={"scored_input": "scored_input.csv"}))
    frame().to_csv(score / "scored_input.csv", index=False)

    _shadow([trained], results, tmp_path, lambda line: None)
    assert trained.checks["shadow/agreement"]["passed"] is False     # v1.0.0 was flipped
