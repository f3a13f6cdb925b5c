"""The full pipeline (templates/ds-pipeline.yml) run by gitlab-ci-local in shell mode.

Each scenario runs on its own copy of this repository (its own git history and fake origin);
jobs call this working tree's ds-runner and talk to a GitLab emulator on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import TOKEN, Env
from tests.e2e.gcl import Repo, Run
from tests.gitlab_emulator import pipeline_rules

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
TRAINING = "notebooks/training_example.ipynb"
INFERENCE = "notebooks/inference_example.ipynb"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"


def _assert_jobs(run: Run, expected: dict[str, str]) -> None:
    results = run.job_results()
    assert results == expected, f"{results}\n{run.output[-4000:]}"


def _metrics(run: Run, job: str, notebook: str) -> dict[str, object]:
    stem = notebook.removesuffix(".ipynb")
    path = run.artifacts(job) / ".ds-runner" / stem / "metrics.json"
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def mr_run(e2e: Env) -> Run:
    """Scenario 1: a merge-request pipeline whose commit says [run notebooks/training...]."""
    repo = e2e.repo("mr")
    base_sha = repo.commit("docs: nothing to run", {"NOTES.md": "base\n"})
    repo.publish("main")
    subprocess.run(["git", "checkout", "-q", "-b", "feature"], cwd=repo.path, check=True)
    message = f"tune the model [run {TRAINING}]"
    sha = repo.commit(message, {"NOTES.md": "tuning\n"})
    repo.publish("feature")
    e2e.emulator.add_merge_request(e2e.project_id, iid=1, source_branch="feature",
                                   target_branch="main", sha=sha)
    return repo.gitlab_ci_local(variables={
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_MESSAGE": message,
        "CI_MERGE_REQUEST_IID": "1", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_sha, "GITLAB_TOKEN": TOKEN,
    }, unset=("CI_COMMIT_BRANCH",))


def test_merge_request_runs_the_requested_notebook_and_comments(mr_run: Run, e2e: Env) -> None:
    _assert_jobs(mr_run, {"build-container": "PASS", "detect-notebooks": "PASS",
                          "execute-notebook": "PASS", "shadow-compare": "PASS",
                          "publish-metrics-comment": "PASS"})
    detected = json.loads((mr_run.artifacts("detect-notebooks") / "detect.json").read_text())
    assert detected["notebooks"] == [TRAINING] and detected["directives"] == [TRAINING]
    metrics = _metrics(mr_run, "execute-notebook", TRAINING)
    assert metrics["status"] == "success"
    assert isinstance(metrics["metrics"], dict) and 0.5 < metrics["metrics"]["auc"] <= 1
    report = mr_run.artifacts("execute-notebook") / ".ds-runner/notebooks/training_example"
    assert (report / "metrics.txt").read_text().count("auc") == 1
    assert (report / "training_example.html").is_file()
    notes = e2e.emulator.notes(e2e.project_id, 1)
    assert len(notes) == 1, [n.body[:200] for n in notes]
    assert "training_example" in notes[0].body and "auc" in notes[0].body
    # shadow-compare ran before the comment: no production release yet, so its row passes
    assert "`shadow/comparison`" in notes[0].body and "shadow comparison not run" not in \
        notes[0].body


def test_comment_without_token_warns_and_the_pipeline_passes(mr_run: Run, e2e: Env) -> None:
    repo = e2e.repo("no-token")
    # the execute job's artifacts, as GitLab would download them into the job
    shutil.copytree(mr_run.artifacts("execute-notebook") / ".ds-runner", repo.path / ".ds-runner")
    run = repo.gitlab_ci_local("publish-metrics-comment", variables={
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "1"})
    assert run.returncode == 0, run.output[-3000:]
    assert run.job_results() == {"publish-metrics-comment": "WARN"}, run.output[-3000:]
    assert "GITLAB_TOKEN is not set" in run.output
    assert len(e2e.emulator.notes(e2e.project_id, 1)) == 1  # nothing new was posted


def test_skip_run_executes_nothing(e2e: Env) -> None:
    """Scenario 2: a changed notebook with [skip run] in the message is not executed; the MR
    comment job then has nothing to publish and passes."""
    repo = e2e.repo("skip")
    base_sha = repo.commit("base", {"NOTES.md": "base\n"})
    repo.publish("main")
    notebook = json.loads((repo.path / TRAINING).read_text())
    notebook["metadata"]["e2e"] = "changed"
    message = "wip on the notebook [skip run]"
    sha = repo.commit(message, {TRAINING: json.dumps(notebook, indent=1)})
    e2e.emulator.add_merge_request(e2e.project_id, iid=2, source_branch="skip",
                                   target_branch="main", sha=sha)
    run = repo.gitlab_ci_local(variables={
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_MESSAGE": message,
        "CI_MERGE_REQUEST_IID": "2", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_sha, "GITLAB_TOKEN": TOKEN,
    }, unset=("CI_COMMIT_BRANCH",))
    _assert_jobs(run, {"build-container": "PASS", "detect-notebooks": "PASS",
                       "execute-notebook": "PASS", "shadow-compare": "PASS",
                       "publish-metrics-comment": "PASS"})
    detected = json.loads((run.artifacts("detect-notebooks") / "detect.json").read_text())
    assert detected["skip"] is True and detected["notebooks"] == []
    assert "nothing to run" in run.log("execute-notebook")
    assert not (run.artifacts("execute-notebook") / ".ds-runner" / "notebooks").exists()
    assert "nothing to publish" in run.log("publish-metrics-comment")
    assert e2e.emulator.notes(e2e.project_id, 2) == []


def test_schedule_runs_the_scoring_notebook_and_writes_the_wiki(mr_run: Run, e2e: Env) -> None:
    """Scenario 3: a scheduled pipeline with SCORING_NOTEBOOK runs inference, logs to the wiki."""
    repo = e2e.repo("schedule")
    model = (mr_run.repo / "xgb_model.json").read_bytes()
    profile = (mr_run.repo / "xgb_model.profile.json").read_bytes()   # written with the model
    repo.commit("model from training", {"xgb_model.json": model,
                                        "xgb_model.profile.json": profile})
    run = repo.gitlab_ci_local(variables={
        "CI_PIPELINE_SOURCE": "schedule", "SCORING_NOTEBOOK": INFERENCE,
        "GITLAB_TOKEN": TOKEN, "CI_COMMIT_MESSAGE": "model from training"})
    _assert_jobs(run, {"build-container": "PASS", "detect-notebooks": "PASS",
                       "execute-scheduled": "PASS", "write-to-wiki": "PASS"})
    assert _metrics(run, "execute-scheduled", INFERENCE)["status"] == "success"
    pages = e2e.emulator.wiki_pages(e2e.project_id)
    assert any("inference_example" in p.slug for p in pages), [p.slug for p in pages]
    page = next(p for p in pages if "inference_example" in p.slug)
    assert "success" in page.content


@pytest.mark.parametrize("tag, released", [("v1.0.0", True), ("dev-1.0.0", False)])
def test_production_tags_release_and_dev_tags_do_not(tag: str, released: bool, e2e: Env) -> None:
    """Scenario 4: v1.0.0 runs release_notebooks (both examples, which record the same model
    file), checks their gates and creates one release with unique links; dev-1.0.0 creates
    none."""
    repo = e2e.repo(f"tag-{tag}")
    if released:
        repo.set_inputs(release_notebooks=f"{TRAINING} {INFERENCE}")
    message = f"release {tag}"
    sha = repo.commit(message, {"NOTES.md": tag})
    e2e.emulator.add_tag(e2e.project_id, tag, sha=sha)
    run = repo.gitlab_ci_local(variables={
        "CI_COMMIT_TAG": tag, "CI_COMMIT_REF_NAME": tag, "CI_COMMIT_MESSAGE": message,
        "GITLAB_TOKEN": TOKEN}, unset=("CI_COMMIT_BRANCH",))
    _assert_jobs(run, {"build-container": "PASS", "detect-notebooks": "PASS",
                       "execute-notebook": "PASS", "shadow-compare": "PASS",
                       "auto-release": "PASS"})
    detected = json.loads((run.artifacts("detect-notebooks") / "detect.json").read_text())
    assert detected["notebooks"] == ([TRAINING, INFERENCE] if released else [])
    release = e2e.emulator.release(e2e.project_id, tag)
    if released:
        assert release is not None, run.log("auto-release")[-3000:]
        assert "auc" in release.description and INFERENCE in release.description
        assert "validation gates" in run.log("auto-release")
        # the training model registered in the job's MLflow store (MLFLOW_TRACKING_URI)
        assert "Registered model: `models:/breast-cancer-xgb/1.0.0`" in release.description
        assert "`shadow/comparison`" in release.description   # gated by shadow-compare's row
        names = sorted(link.name for link in release.links if link.link_type == "package")
        assert names == [f"Model file xgb_model.json of {INFERENCE}",
                         f"Model file xgb_model.json of {TRAINING}"], names
        for key in ("name", "url", "direct_asset_path"):
            values = [getattr(link, key) for link in release.links]
            assert len(set(values)) == len(values), values
        assert not [r for r in e2e.emulator.requests if "/repository/tags" in r.path]
        _rerun_reuses_the_training(repo, run, sha, tag, e2e)
    else:
        assert release is None
        assert "not a production tag" in run.log("auto-release")


def _rerun_reuses_the_training(repo: Repo, first: Run, sha: str, tag: str, e2e: Env) -> None:
    """Issue 10 item 3: once the emulator lists the execute job that trained this commit (as
    if the default branch had run it), the tag pipeline trains nothing and releases that run."""
    folder = first.artifacts("execute-notebook")
    files: dict[str, bytes | str] = {p.relative_to(folder).as_posix(): p.read_bytes()
                                     for p in (folder / ".ds-runner").rglob("*") if p.is_file()}
    pipeline = e2e.emulator.add_pipeline(e2e.project_id, ref="main", sha=sha)
    trained = e2e.emulator.add_job(e2e.project_id, ref="main", name="execute-notebook", sha=sha,
                                   pipeline=pipeline, artifacts=files)
    run = repo.gitlab_ci_local(variables={
        "CI_COMMIT_TAG": tag, "CI_COMMIT_REF_NAME": tag, "CI_COMMIT_MESSAGE": f"release {tag}",
        "GITLAB_TOKEN": TOKEN}, unset=("CI_COMMIT_BRANCH",))
    results = run.job_results()
    assert {job: results.get(job) for job in ("build-container", "detect-notebooks",
                                              "execute-notebook", "auto-release")} == dict.fromkeys(
        ("build-container", "detect-notebooks", "execute-notebook", "auto-release"), "PASS"
    ), f"{results}\n{run.output[-4000:]}"
    detected = json.loads((run.artifacts("detect-notebooks") / "detect.json").read_text())
    assert detected["notebooks"] == [], detected
    assert sorted(r["notebook"] for r in detected["reused"]) == [INFERENCE, TRAINING]
    assert "nothing to run" in run.log("execute-notebook")
    release = e2e.emulator.release(e2e.project_id, tag)
    assert release is not None
    assert release.description.count(f"reuses the results and model of [job #{trained.id}]") == 2


def test_parallel_mode_runs_each_changed_notebook_in_its_own_child_job(e2e: Env) -> None:
    """Scenario 5: a merge request with two changed notebooks, parallel mode: the
    merge-request pipeline triggers a child pipeline with two jobs."""
    repo = e2e.repo("parallel")
    repo.set_inputs(execution_mode="parallel")
    base_sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo.path, capture_output=True,
                              text=True, check=True).stdout.strip()
    message = "two new notebooks"
    repo.commit(message, {
        "notebooks/first.ipynb": (FIXTURES / "success.ipynb").read_text(),
        "notebooks/second.ipynb": (FIXTURES / "records_metrics.ipynb").read_text()})
    mr = {"CI_MERGE_REQUEST_IID": "5", "CI_MERGE_REQUEST_EVENT_TYPE": "detached",
          "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "parallel",
          "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    parent_vars = {**mr, "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_MESSAGE": message,
                   "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_sha}
    listed = repo.gitlab_ci_local("--list", variables=parent_vars, unset=("CI_COMMIT_BRANCH",))
    assert "execute-notebook-child" in listed.output, listed.output
    assert "execute-notebook " not in listed.output.replace("execute-notebook-child", "")
    parent = repo.gitlab_ci_local("build-container", "detect-notebooks", variables=parent_vars,
                                  unset=("CI_COMMIT_BRANCH",))
    _assert_jobs(parent, {"build-container": "PASS", "detect-notebooks": "PASS"})
    detected = json.loads((parent.artifacts("detect-notebooks") / "detect.json").read_text())
    assert detected["base"] == "CI_MERGE_REQUEST_DIFF_BASE_SHA", detected
    child_file = repo.path / "child.yml"
    shutil.copy(parent.artifacts("detect-notebooks") / "child.yml", child_file)
    # gitlab-ci-local runs a child's jobs whatever the parent; GitLab gives jobs without rules
    # `only: [branches, tags]`, and a child of a merge-request pipeline is neither, so it would
    # create none (gitlab-org/gitlab#322012). The emulator-side model of that rule checks the
    # child.yml this pipeline produced.
    created = pipeline_rules.create(yaml.safe_load(child_file.read_text()),
                                    pipeline_rules.Pipeline.top("merge_request_event").child())
    assert created.jobs == ("execute:notebooks/first", "execute:notebooks/second"), created
    child = repo.gitlab_ci_local("--file", "child.yml", variables={
        **mr, "DS_CHILD_IMAGE": "python:3.11", "CI_PIPELINE_SOURCE": "parent_pipeline"},
        unset=("CI_COMMIT_BRANCH",))
    assert child.returncode == 0, child.output[-4000:]
    _assert_jobs(child, {"execute:notebooks/first": "PASS", "execute:notebooks/second": "PASS"})
    for job, notebook in (("execute:notebooks/first", "notebooks/first.ipynb"),
                          ("execute:notebooks/second", "notebooks/second.ipynb")):
        assert _metrics(child, job, notebook)["status"] == "success"

    # The parent's comment job: GitLab hands it no child artifacts, so it collects them through
    # the API. The emulator holds the parent pipeline, its trigger job and the child pipeline
    # whose two jobs have the artifacts the child run above produced.
    emu, pid = e2e.emulator, e2e.project_id
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo.path, capture_output=True,
                         text=True, check=True).stdout.strip()
    emu.add_merge_request(pid, iid=5, source_branch="parallel", target_branch="main", sha=sha)
    parent_pipeline = emu.add_pipeline(pid, ref="parallel", sha=sha,
                                       source="merge_request_event")
    child_pipeline = emu.add_child_pipeline(pid, parent_pipeline)
    for job in ("execute:notebooks/first", "execute:notebooks/second"):
        folder = child.artifacts(job)
        emu.add_job(pid, ref="parallel", name=job, pipeline=child_pipeline,
                    artifacts={p.relative_to(folder).as_posix(): p.read_bytes()
                               for p in folder.rglob("*") if p.is_file()})
    comment = repo.gitlab_ci_local("publish-metrics-comment", variables={
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "5",
        "CI_PIPELINE_ID": str(parent_pipeline.id), "GITLAB_TOKEN": TOKEN})
    assert comment.job_results() == {"publish-metrics-comment": "PASS"}, comment.output[-4000:]
    log = comment.log("publish-metrics-comment")
    assert "collected notebooks/first.ipynb (success)" in log, log[-3000:]
    assert "collected notebooks/second.ipynb (success)" in log
    [note] = emu.notes(pid, 5)
    assert "notebooks/first.ipynb" in note.body and "notebooks/second.ipynb" in note.body


def test_rendered_pipeline_validates_against_gitlab_ci_schema(e2e: Env, tmp_path: Path) -> None:
    repo = e2e.repo("preview")
    repo.set_inputs(execution_mode="parallel")
    run = repo.gitlab_ci_local("--preview")
    assert run.returncode == 0, run.output[-3000:]
    rendered = tmp_path / "preview.yml"
    rendered.write_text(run.stdout, encoding="utf-8")
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run([str(checker), "--builtin-schema", "vendor.gitlab-ci", str(rendered)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "execute-notebook-child:" in run.output and "publish-metrics-comment:" in run.output
