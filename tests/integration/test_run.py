"""``ds-runner run``: the pipeline's work locally, on real kernels and real git repositories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.cli import main
from runner.metrics import RunResult

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
EXAMPLE_FILES = ("notebooks/training_example.ipynb", "notebooks/inference_example.ipynb",
                 "training_config.yaml", "inference_config.yaml", "xgb_model.json",
                 "xgb_model.profile.json", "data/inference_input.csv")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args],
                          check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    """success.ipynb and raises.ipynb in a git repository with one commit."""
    (tmp_path / "notebooks").mkdir()
    for name in ("success.ipynb", "raises.ipynb"):
        shutil.copy(FIXTURES / name, tmp_path / "notebooks" / name)
    (tmp_path / "training_config.yaml").write_text("outcome: target\n", encoding="utf-8")
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "start")
    return tmp_path


def run(repo: Path, *args: str) -> int:
    return main(["run", "--repo", str(repo), "--no-html", *args])


def results(repo: Path) -> dict[str, RunResult]:
    return {r.notebook: r for r in (RunResult.read(p)
                                    for p in (repo / ".ds-runner").rglob("metrics.json"))}


def test_both_examples_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rel in EXAMPLE_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    git(tmp_path, "init", "-q", "-b", "main")
    commit(tmp_path, "examples")

    assert main(["run", "--repo", str(tmp_path), "--all", "-p", "n_trials", "2"]) == 0

    captured = capsys.readouterr()
    err = captured.err
    # training runs first: inference scores the model it writes
    assert err.index("training_example.ipynb ...") < err.index("inference_example.ipynb ...")
    got = results(tmp_path)
    train = got["notebooks/training_example.ipynb"]
    infer = got["notebooks/inference_example.ipynb"]
    assert train.ok and infer.ok
    assert train.metrics["auc"] > 0.9 and train.parameters["n_trials"] == 2
    assert "n_trials" not in infer.parameters  # -p goes only to notebooks that declare it
    assert infer.metrics["rows_scored"] == 569
    assert {"roc", "feature_importance"} <= set(train.figures)
    report = tmp_path / ".ds-runner" / "report"
    comment = (report / "comment.md").read_text()
    assert "notebooks/training_example.ipynb" in comment and "auc" in comment
    assert (report / "wiki" / "index.md").exists()
    assert "| notebooks/training_example.ipynb | success | 0 |" in captured.out
    # the shadow comparison ran as the pipeline's shadow-compare job would: no local release
    # yet, so it passes and says so, instead of failing as "not run"
    assert "shadow: notebooks/training_example.ipynb: PASS shadow/comparison" in err
    assert "no local release yet" in comment and "shadow comparison not run" not in comment
    assert "❌" not in comment


def test_last_commit_directives_choose_what_runs(small_repo: Path) -> None:
    commit(small_repo, "retrain [run notebooks/success.ipynb]")
    assert run(small_repo) == 0
    assert set(results(small_repo)) == {"notebooks/success.ipynb"}


def test_skip_run_runs_nothing(small_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (small_repo / "notebooks" / "success.ipynb").write_text(
        (FIXTURES / "success.ipynb").read_text() + "\n")
    commit(small_repo, "tweak [skip run]")
    assert run(small_repo) == 0
    assert results(small_repo) == {}
    assert "nothing to run" in capsys.readouterr().err


def test_changed_and_uncommitted_notebooks_run(small_repo: Path) -> None:
    shutil.copy(FIXTURES / "records_metrics.ipynb", small_repo / "notebooks" / "new.ipynb")
    commit(small_repo, "add a notebook")
    shutil.copy(FIXTURES / "trivial.ipynb", small_repo / "notebooks" / "draft.ipynb")
    assert run(small_repo) == 0
    assert set(results(small_repo)) == {"notebooks/new.ipynb", "notebooks/draft.ipynb"}


def test_a_failing_notebook_fails_the_run_and_still_reports(
        small_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(small_repo, "--all") == 1
    got = results(small_repo)
    assert got["notebooks/raises.ipynb"].status == "failed"
    assert got["notebooks/success.ipynb"].ok
    assert (small_repo / ".ds-runner" / "notebooks" / "raises" / "raises.ipynb").exists()
    comment = (small_repo / ".ds-runner" / "report" / "comment.md").read_text()
    assert "ValueError" in comment
    assert "notebooks/raises.ipynb: failed in" in capsys.readouterr().err


def test_unknown_parameter_is_a_usage_error_before_anything_runs(small_repo: Path) -> None:
    assert run(small_repo, "--all", "-p", "no_such_name", "1") == 2
    assert results(small_repo) == {}
