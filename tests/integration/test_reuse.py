"""Never train the same commit twice: a tag pipeline finds the run of the same commit and content
key through the jobs API and reuses its results and model; the real python-gitlab client talks
to the GitLab emulator, and the first run is a real kernel run of ``ds-runner execute``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner import cli
from runner.gitlab_client import GitLabClient
from runner.publish.reuse import find_reusable
from tests.git_helpers import Repo
from tests.gitlab_emulator import GitLabEmulator, Pipeline
from tests.publish_helpers import BOT_TOKEN, Scene, make_scene
from tests.report_helpers import make_result

pytestmark = pytest.mark.integration
NB = "notebooks/train.ipynb"
METRICS = ".ds-runner/notebooks/train/metrics.json"
KEY = "ck1-" + "7" * 64
SHA = "c3" * 20
TRAIN = """\
from pathlib import Path
from runner import record, record_info
Path(output_dir, "model.json").write_text("{}")
record("auc", 0.97)
record("logloss", 0.21)
record_info("model_path", "model.json")
"""


def metrics(key: str = KEY, status: str = "success") -> str:
    return json.dumps(make_result(NB, status=status, info={"content_key": key}).to_dict())


def job(emu: GitLabEmulator, project: int, sha: str = SHA, *, ref: str = "main",
        name: str = "execute-notebook", status: str = "success",
        files: dict[str, bytes | str] | None = None, pipeline: Pipeline | None = None) -> int:
    pipeline = pipeline or emu.add_pipeline(project, ref=ref, sha=sha, status=status)
    return emu.add_job(project, ref=ref, name=name, sha=sha, pipeline=pipeline,
                       artifacts={METRICS: metrics()} if files is None else files).id


@pytest.fixture
def scene(emulator: GitLabEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Scene:
    return make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)


def client(scene: Scene) -> GitLabClient:
    return GitLabClient(scene.emu.url, str(scene.project_id), private_token=BOT_TOKEN)


def search(scene: Scene, **bounds: int) -> dict[str, int]:
    found = find_reusable(client(scene), SHA, {NB: KEY}, "execute-notebook", **bounds)
    return {nb: r.job_id for nb, r in found.items()}


def test_the_newest_run_of_the_same_commit_and_key_is_found(scene: Scene) -> None:
    emu, pid = scene.emu, scene.project_id
    older = job(emu, pid)
    child = job(emu, pid, name="execute:notebooks/train", ref="feature")
    assert search(scene) == {NB: child}
    job(emu, pid, status="failed")                                  # its pipeline failed
    job(emu, pid, sha="d4" * 20)                                    # another commit
    job(emu, pid, files={METRICS: metrics("ck1-" + "8" * 64)})      # another content key
    job(emu, pid, files={METRICS: metrics(status="failed")})        # the run failed
    job(emu, pid, files={".ds-runner/other/metrics.json": metrics()})  # no metrics.json of it
    job(emu, pid, files={})                                         # no artifacts at all
    job(emu, pid, name="lint")                                      # not an execute job
    assert search(scene) == {NB: child}
    assert search(scene, max_probes=3) == {}                        # the bounds hold
    assert search(scene, max_jobs=7) == {}
    assert older < child


def test_a_token_that_cannot_list_jobs_means_no_reuse(scene: Scene) -> None:
    job(scene.emu, scene.project_id)
    token_client = GitLabClient(scene.emu.url, str(scene.project_id), job_token="nope")
    assert find_reusable(token_client, SHA, {NB: KEY}, "execute-notebook") == {}


@pytest.fixture
def repo(scene: Scene) -> Repo:
    """The scene's folder as a git repository holding a tiny training notebook."""
    nb = {"cells": [
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata":
         {"tags": ["parameters"]}, "outputs": [], "source": 'output_dir = "."\n'},
        {"cell_type": "code", "execution_count": None, "id": "t", "metadata": {},
         "outputs": [], "source": TRAIN}],
        "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                    "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5}
    (scene.repo / "notebooks").mkdir()
    (scene.repo / NB).write_text(json.dumps(nb))
    repo = Repo(scene.repo)
    repo.git("add", NB, "training_config.yaml")
    repo.git("commit", "-q", "-m", "train")
    return repo


def run(scene: Scene, *args: str) -> tuple[int, str]:
    scene.capsys.readouterr()
    code = cli.main(list(args))
    return code, scene.capsys.readouterr().out


def detect(scene: Scene, sha: str, *extra: str) -> dict[str, object]:
    code, out = run(scene, "detect", "--json", "--sha", sha, "--source", "push",
                    "--message", f"release [run {NB}]", *extra)
    assert code == 0, out
    data: dict[str, object] = json.loads(out)
    (scene.repo / "detect.json").write_text(out)
    return data


def train_on_main(scene: Scene, sha: str) -> int:
    """The default branch's pipeline: a real ``ds-runner execute`` whose output folder becomes
    the artifacts of its job."""
    pipeline = scene.emu.add_pipeline(scene.project_id, ref="main", sha=sha)
    made = scene.emu.add_job(scene.project_id, ref="main", name="execute-notebook", sha=sha,
                             pipeline=pipeline)
    scene.pipeline(pipeline.id, CI_JOB_ID=str(made.id), CI_JOB_NAME="execute-notebook",
                   CI_JOB_URL=f"{scene.emu.url}/group/ds-example/-/jobs/{made.id}",
                   CI_COMMIT_SHA=sha)
    code, out = run(scene, "execute", "--output-dir", ".ds-runner", NB)
    assert code == 0, out
    folder = scene.repo / ".ds-runner"
    made.artifacts.update({p.relative_to(scene.repo).as_posix(): p.read_bytes()
                           for p in folder.rglob("*") if p.is_file()})
    assert json.loads(made.artifacts[METRICS])["info"]["content_key"].startswith("ck1-")
    shutil.rmtree(folder)   # the tag's jobs start clean
    return made.id


def test_the_tag_pipeline_reuses_the_run_of_its_commit(scene: Scene, repo: Repo) -> None:
    sha = repo.git("rev-parse", "HEAD")
    scene.monkeypatch.setenv("DS_IMAGE_TAG", "deps-1")
    job_id = train_on_main(scene, sha)
    scene.pipeline(300, CI_COMMIT_TAG="v1.0.0", CI_COMMIT_SHA=sha, CI_JOB_ID="3000")

    found = detect(scene, sha)
    assert found["notebooks"] == [] and found["count"] == 0
    [reused] = found["reused"]  # type: ignore[misc]
    assert reused["job_id"] == job_id and reused["ref"] == "main"

    code, out = run(scene, "execute", "--from-detect", "detect.json", "--output-dir",
                    ".ds-runner")
    assert code == 0 and not (scene.repo / ".ds-runner").exists()   # no kernel ran

    code, out = run(scene, "collect", "--reused", "detect.json")
    assert code == 0, out
    assert f"reused {NB} (success) from job {job_id}" in out
    info = json.loads((scene.repo / METRICS).read_text())["info"]
    assert info["reused_job"] == str(job_id) and info["reused_ref"] == "main"

    code, out = run(scene, "release")
    assert code == 0, out
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None
    assert f"reuses the results and model of [job #{job_id}](" in rel.description
    assert f"[pipeline #{reused['pipeline_id']}](" in rel.description
    [model] = [ln.url for ln in rel.links if ln.name.startswith("Model file")]
    assert model.endswith(f"/jobs/{job_id}/artifacts/raw/.ds-runner/notebooks/train/model.json")


@pytest.mark.parametrize("why", ["no-reuse", "DS_REUSE", "tag-message", "image", "no-token"])
def test_a_fresh_run_when_forced_or_when_the_key_differs(scene: Scene, repo: Repo,
                                                         why: str) -> None:
    sha = repo.git("rev-parse", "HEAD")
    scene.monkeypatch.setenv("DS_IMAGE_TAG", "deps-1")
    train_on_main(scene, sha)
    scene.pipeline(300, CI_COMMIT_TAG="v1.0.0", CI_COMMIT_SHA=sha)
    extra = {"no-reuse": ["--no-reuse"], "tag-message": ["--tag-message", f"again [run {NB}]"],
             "image": ["--image", "deps-2"], "no-token": [], "DS_REUSE": []}[why]
    if why == "no-token":
        scene.monkeypatch.delenv("GITLAB_TOKEN")
    if why == "DS_REUSE":   # what retrain: true sets, or a pipeline variable on "Run pipeline"
        scene.monkeypatch.setenv("DS_REUSE", "false")
    found = detect(scene, sha, *extra)
    assert found["notebooks"] == [NB] and found["reused"] == []
    code, out = run(scene, "collect", "--reused", "detect.json")
    assert code == 0 and "lists no reused results" in out


def test_no_search_outside_tag_pipelines(scene: Scene, repo: Repo) -> None:
    sha = repo.git("rev-parse", "HEAD")
    train_on_main(scene, sha)
    before = len(scene.emu.requests)
    assert detect(scene, sha)["notebooks"] == [NB]
    assert len(scene.emu.requests) == before


def test_notebooks_reused_from_one_job_download_its_archive_once(scene: Scene) -> None:
    """A sequential execute job holds every notebook it ran: collect --reused downloads its
    artifacts archive once, not once per notebook."""
    other = "notebooks/score.ipynb"
    files: dict[str, bytes | str] = {
        METRICS: metrics(),
        ".ds-runner/notebooks/score/metrics.json": json.dumps(
            make_result(other, info={"content_key": KEY}).to_dict())}
    job_id = job(scene.emu, scene.project_id, files=files)
    entry = {"content_key": KEY, "job_id": job_id, "job_name": "execute-notebook",
             "job_url": "", "pipeline_id": 1, "pipeline_url": "", "ref": "main"}
    (scene.repo / "detect.json").write_text(json.dumps(
        {"notebooks": [], "reused": [{**entry, "notebook": NB}, {**entry, "notebook": other}]}))
    scene.pipeline(301, CI_COMMIT_TAG="v1.0.0", CI_COMMIT_SHA=SHA, CI_JOB_ID="3001")
    before = len(scene.emu.requests)

    code, out = run(scene, "collect", "--reused", "detect.json")
    assert code == 0, out
    assert (scene.repo / ".ds-runner/notebooks/score/metrics.json").is_file()
    downloads = [r for r in scene.emu.requests[before:]
                 if r.path.endswith(f"/jobs/{job_id}/artifacts")]
    assert len(downloads) == 1, [r.path for r in scene.emu.requests[before:]]
