from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner import cli
from runner.detect.changes import Detection
from runner.detect.childpipeline import (
    DOTENV_LIMIT,
    EMPTY_JOB,
    ChildOptions,
    child_pipeline,
    job_name,
    render_dotenv,
)
from tests.git_helpers import ZERO_SHA, Repo

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
ODD = "notebooks/my nb's $HOME `x`.ipynb"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may run inside GitLab CI: its variables must not leak into these cases."""
    for name in list(os.environ):
        if name.startswith(("CI_", "DS_", "GIT_")) or name == "SCORING_NOTEBOOK":
            monkeypatch.delenv(name)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "repo")
    r.commit("root", {"notebooks/train.ipynb": "t1", "notebooks/sub/infer.ipynb": "i1"})
    return r


def detect_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["detect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def read_dotenv(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) <= DOTENV_LIMIT
    lines = text.split("\n")
    assert lines[-1] == "" and all(lines[:-1])  # GitLab refuses empty lines
    pairs = [line.split("=", 1) for line in lines[:-1]]
    assert all(len(p) == 2 and p[1] == p[1].strip() for p in pairs)
    return dict((k, v) for k, v in pairs)


def validate_gitlab_ci(path: Path) -> None:
    proc = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci",
                           str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_json_output_and_env_variables(repo: Repo, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = repo.head()
    sha = repo.commit("x", {"notebooks/train.ipynb": "t2", "notebooks/new.ipynb": "n"})
    monkeypatch.setenv("CI_PIPELINE_SOURCE", "push")
    monkeypatch.setenv("CI_COMMIT_BEFORE_SHA", before)
    monkeypatch.setenv("CI_COMMIT_SHA", sha)
    monkeypatch.setenv("CI_COMMIT_MESSAGE", "[run notebooks/sub/infer.ipynb]")
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["notebooks"] == ["notebooks/sub/infer.ipynb", "notebooks/new.ipynb",
                                 "notebooks/train.ipynb"]
    assert data["skip"] is False and "2 notebook(s)" in data["reason"]
    assert data["commit_sha"] == sha and data["base_sha"] == before and data["count"] == 3
    # flags override the environment
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json", "--message", "",
                              "--glob", "notebooks/*.ipynb")
    assert json.loads(out)["notebooks"] == ["notebooks/new.ipynb", "notebooks/train.ipynb"]


def test_human_summary(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    before = repo.head()
    repo.commit("x", {"notebooks/train.ipynb": None, "notebooks/new.ipynb": "n"})
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--before-sha", before,
                              "--message", "[run notebooks/sub/infer.ipynb]")
    assert code == 0
    assert "2 notebook(s) to run" in out
    assert "1. notebooks/sub/infer.ipynb  ([run] directive)" in out
    assert "2. notebooks/new.ipynb  (changed)" in out
    assert "notebooks/train.ipynb  (deleted, not run)" in out


def test_skip_outputs(repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    env, child = tmp_path / "out" / "detect.env", tmp_path / "out" / "child.yml"
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json", "--message",
                              "wip [skip run]", "--dotenv", str(env), "--child-pipeline",
                              str(child), "--child-image", "img:1")
    assert code == 0 and json.loads(out)["skip"] is True
    values = read_dotenv(env)
    assert (values["DS_SKIP"], values["DS_NOTEBOOKS"], values["DS_NOTEBOOK_COUNT"]) == (
        "true", "", "0")
    pipeline = yaml.safe_load(child.read_text())
    assert list(pipeline) == ["workflow", "stages", EMPTY_JOB]
    assert pipeline["workflow"] == {"rules": [{"when": "always"}]}  # runs under an MR parent too
    assert pipeline[EMPTY_JOB]["variables"] == {"GIT_STRATEGY": "none"}
    validate_gitlab_ci(child)


def test_dotenv_and_child_pipeline(repo: Repo, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    before = repo.head()
    repo.commit("x", {ODD: "o", "notebooks/sub/infer.ipynb": "i2"})
    env, child = tmp_path / "detect.env", tmp_path / "child.yml"
    code, _, _ = detect_cli(
        capsys, "--repo", str(repo.path), "--before-sha", before, "--dotenv", str(env),
        "--child-pipeline", str(child), "--child-image", "registry.example.com/nb:1.0",
        "--child-tag", "gpu", "--child-tag", "linux", "--child-timeout", "1200",
        "--child-stage", "notebooks", "--child-before-script", "nvidia-smi || true",
        "--child-variables", "MLFLOW_EXPERIMENT_NAME=ci", "--child-variables", "EMPTY=")
    assert code == 0
    values = read_dotenv(env)
    assert shlex.split(values["DS_NOTEBOOKS"]) == sorted([ODD, "notebooks/sub/infer.ipynb"])
    assert values["DS_NOTEBOOK_COUNT"] == "2" and values["DS_SKIP"] == "false"
    assert values["DS_NOTEBOOKS_COMPLETE"] == "true" and values["DS_BASE_SHA"] == before
    # the documented shell recipe gets the exact paths back
    shell = subprocess.run(["bash", "-c", f'DS_NOTEBOOKS={shlex.quote(values["DS_NOTEBOOKS"])}; '
                            'eval "set -- $DS_NOTEBOOKS"; printf "%s\\n" "$@"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.splitlines() == sorted([ODD, "notebooks/sub/infer.ipynb"])

    validate_gitlab_ci(child)
    pipeline = yaml.safe_load(child.read_text())
    assert pipeline["stages"] == ["notebooks"]
    job = pipeline[job_name(ODD)]
    assert job["image"] == "registry.example.com/nb:1.0" and job["tags"] == ["gpu", "linux"]
    assert job["stage"] == "notebooks" and job["timeout"] == "25 minutes"
    assert job["before_script"] == ["nvidia-smi || true"]
    assert job["variables"] == {"MLFLOW_EXPERIMENT_NAME": "ci", "EMPTY": ""}
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["paths"] == [".ds-runner/notebooks/my nb's $HOME `x`/"]
    assert job["artifacts"]["reports"]["metrics"].endswith("`x`/metrics.txt")
    # the script hands the path to ds-runner as exactly one argument, untouched by the shell
    (script,) = job["script"]
    args = subprocess.run(["bash", "-c", f'ds-runner() {{ printf "%s\\n" "$@"; }}; {script}'],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert args == ["execute", "--output-dir", ".ds-runner", "--timeout", "1200", "--json",
                    "--", ODD]
    assert "needs" not in job


def test_sequential_mode_chains_the_jobs() -> None:
    detection = Detection(notebooks=["a.ipynb", "b.ipynb", "c.ipynb"], skip=False, reason="r",
                          source="push")
    pipeline = child_pipeline(detection, ChildOptions.build(mode="sequential", image="i"))
    jobs = [name for name in pipeline if name not in ("stages", "workflow")]
    assert jobs == ["execute:a", "execute:b", "execute:c"]
    assert "needs" not in pipeline["execute:a"]
    assert pipeline["execute:c"]["needs"] == ["execute:b"]
    assert pipeline["execute:c"]["when"] == "always"


def test_long_paths_give_unique_bounded_job_names() -> None:
    base = "notebooks/" + "d" * 300
    names = {job_name(f"{base}/{i}.ipynb") for i in range(3)}
    assert len(names) == 3 and all(len(n) <= 255 for n in names)
    assert job_name("notebooks/train.ipynb") == "execute:notebooks/train"


def test_glob_characters_are_escaped_in_artifact_paths() -> None:
    detection = Detection(notebooks=["nb/[draft]*.ipynb"], skip=False, reason="r", source="p")
    job = child_pipeline(detection, ChildOptions())["execute:nb/[draft]*"]
    assert job["artifacts"]["paths"] == [".ds-runner/nb/\\[draft\\]\\*/"]


def test_dotenv_too_big_keeps_the_count_and_says_incomplete() -> None:
    notebooks = [f"notebooks/{'x' * 60}/{i}.ipynb" for i in range(200)]
    text = render_dotenv(Detection(notebooks=notebooks, skip=False, reason="r\nsecond line",
                                   source="push"))
    assert len(text.encode()) <= DOTENV_LIMIT
    assert "DS_NOTEBOOKS=\n" in text and "DS_NOTEBOOKS_COMPLETE=false" in text
    assert "DS_NOTEBOOK_COUNT=200" in text and "DS_REASON=r second line\n" in text


@pytest.mark.parametrize("message,fragment", [
    ("[run ../escape.ipynb]", "outside the repository"),
    ("[run notebooks/nope.ipynb]", "no such file at this commit"),
    ("[run notebooks/train.py]", "must end in .ipynb"),
    ("[run notebooks/a\x01.ipynb]", "U+0001"),
])
def test_bad_directive_exits_2_and_writes_nothing(
        repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path, message: str,
        fragment: str) -> None:
    env, child = tmp_path / "detect.env", tmp_path / "child.yml"
    code, out, err = detect_cli(capsys, "--repo", str(repo.path), "--json", "--message", message,
                                "--dotenv", str(env), "--child-pipeline", str(child))
    assert code == 2 and out == ""
    assert err.startswith("ds-runner: error: bad directive [run ") and fragment in err
    assert err.count("\n") == 1
    assert not env.exists() and not child.exists()


def test_schedule_from_flags(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json", "--source", "schedule",
                              "--scoring-notebook", "notebooks/sub/infer.ipynb")
    assert code == 0 and json.loads(out)["notebooks"] == ["notebooks/sub/infer.ipynb"]
    code, _, err = detect_cli(capsys, "--repo", str(repo.path), "--source", "schedule")
    assert code == 2 and "SCORING_NOTEBOOK is not set" in err


def test_bad_child_options_exit_2(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = detect_cli(capsys, "--repo", str(repo.path), "--child-variables", "1BAD=x")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = detect_cli(capsys, "--repo", str(repo.path), "--child-timeout", "0")
    assert code == 2 and "--child-timeout" in err


def test_secrets_are_masked_in_outputs(repo: Repo, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "hunter2-secret")
    repo.commit("x", {"notebooks/hunter2-secret.ipynb": "s"})
    env = tmp_path / "detect.env"
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json", "--before-sha",
                              ZERO_SHA, "--dotenv", str(env))
    assert code == 0 and "hunter2-secret" not in out + env.read_text()
    assert json.loads(out)["notebooks"] == ["notebooks/[MASKED].ipynb"]


def test_child_settings_from_environment(repo: Repo, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI_JOB_IMAGE", "python:3.11")
    monkeypatch.setenv("DS_CHILD_TAGS", "gpu linux")
    monkeypatch.setenv("DS_NOTEBOOK_TIMEOUT", "600")
    monkeypatch.setenv("DS_EXECUTION_MODE", "sequential")
    child = tmp_path / "child.yml"
    code, _, _ = detect_cli(capsys, "--repo", str(repo.path), "--before-sha", ZERO_SHA,
                            "--child-pipeline", str(child))
    assert code == 0
    pipeline = yaml.safe_load(child.read_text())
    first, second = (pipeline[job_name(nb)] for nb in
                     ("notebooks/sub/infer.ipynb", "notebooks/train.ipynb"))
    assert first["image"] == "python:3.11" and first["tags"] == ["gpu", "linux"]
    assert first["timeout"] == "15 minutes" and "--timeout 600" in first["script"][0]
    assert second["needs"] == [job_name("notebooks/sub/infer.ipynb")]
    monkeypatch.setenv("DS_CHILD_IMAGE", "registry.example.com/nb:2")  # wins over CI_JOB_IMAGE
    detect_cli(capsys, "--repo", str(repo.path), "--before-sha", ZERO_SHA,
               "--child-pipeline", str(child))
    assert "image: registry.example.com/nb:2" in child.read_text()


def test_run_notebooks_in_a_web_pipeline(repo: Repo, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("x", {"notebooks/new.ipynb": "n"})
    monkeypatch.setenv("CI_PIPELINE_SOURCE", "web")
    monkeypatch.setenv("CI_COMMIT_BEFORE_SHA", ZERO_SHA)  # as in every manual pipeline
    monkeypatch.setenv("DS_RUN_NOTEBOOKS", "notebooks/sub/infer.ipynb, notebooks/train.ipynb")
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path))
    assert code == 0
    assert "1. notebooks/sub/infer.ipynb  (DS_RUN_NOTEBOOKS)" in out
    assert "notebooks/new.ipynb" not in out  # exactly the requested ones
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json", "--run-notebooks", "")
    assert json.loads(out)["notebooks"] == ["notebooks/new.ipynb"]  # the flag wins: a push
    code, out, err = detect_cli(capsys, "--repo", str(repo.path), "--run-notebooks",
                                "notebooks/gone.ipynb")
    assert code == 2 and out == ""
    assert err == ("ds-runner: error: bad DS_RUN_NOTEBOOKS entry 'notebooks/gone.ipynb': no such "
                   "file at this commit\n")


def test_merged_results_source_sha_from_environment(repo: Repo,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    base = repo.head()
    source_head = repo.commit("feature [run notebooks/train.ipynb]", {"notebooks/f.ipynb": "f"})
    merge = repo.commit("GitLab's merge commit")  # stands in for it: no directive in it
    for name, value in {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_SHA": merge,
                        "CI_COMMIT_MESSAGE": "GitLab's merge commit",
                        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
                        "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": source_head,
                        "CI_MERGE_REQUEST_EVENT_TYPE": "merged_result"}.items():
        monkeypatch.setenv(name, value)
    code, out, _ = detect_cli(capsys, "--repo", str(repo.path), "--json")
    data = json.loads(out)
    assert code == 0 and data["notebooks"] == ["notebooks/train.ipynb", "notebooks/f.ipynb"]
    assert (data["commit_sha"], data["analysed_sha"]) == (merge, source_head)


def test_symlink_leading_outside_is_refused_like_execute_refuses_it(
        repo: Repo, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """detect must not list a notebook that execute then refuses: same message, exit 2."""
    outside = tmp_path / "elsewhere.ipynb"
    outside.write_text("{}")
    before = repo.head()
    (repo.path / "notebooks" / "linked.ipynb").symlink_to(outside)
    repo.git("add", "--", "notebooks/linked.ipynb")
    sha = repo.commit("link")
    env = tmp_path / "detect.env"
    code, out, err = detect_cli(capsys, "--repo", str(repo.path), "--sha", sha,
                                "--before-sha", before, "--dotenv", str(env))
    refused = cli.main(["execute", "--repo", str(repo.path), "notebooks/linked.ipynb"])
    _, execute_err = capsys.readouterr()
    assert (code, refused, out) == (2, 2, "") and not env.exists()
    assert err == execute_err == (f"ds-runner: error: notebooks/linked.ipynb: is a symbolic link "
                                  f"to {outside}, outside the repository "
                                  f"{repo.path.resolve()}\n")
    code, _, err = detect_cli(capsys, "--repo", str(repo.path), "--sha", sha, "--message",
                              "[run notebooks/linked.ipynb]")
    assert code == 2 and err.startswith("ds-runner: error: bad directive [run notebooks/linked")
    assert err.endswith(execute_err.removeprefix("ds-runner: error: "))
