"""``--cwd repo|notebook|PATH``: the kernel's working directory, on real kernels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.cli import main
from runner.metrics import RunResult

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"
NOTEBOOK = "notebooks/sub/shows_cwd.ipynb"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks" / "sub").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    shutil.copy(FIXTURES / "shows_cwd.ipynb", tmp_path / NOTEBOOK)
    (tmp_path / "training_config.yaml").write_text("outcome: target\n", encoding="utf-8")
    return tmp_path.resolve()


def info(repo: Path) -> dict[str, str]:
    """What the notebook recorded (the runner's own ``content_key`` left out)."""
    found = RunResult.read(repo / ".ds-runner/notebooks/sub/shows_cwd/metrics.json").info
    return {k: v for k, v in found.items() if k != "content_key"}


@pytest.mark.parametrize(("args", "cwd", "config_path", "output_dir"), [
    ([], ".", "training_config.yaml", ".ds-runner/notebooks/sub/shows_cwd"),
    (["--cwd", "repo"], ".", "training_config.yaml", ".ds-runner/notebooks/sub/shows_cwd"),
    (["--cwd", "notebook"], "notebooks/sub", "../../training_config.yaml",
     "../../.ds-runner/notebooks/sub/shows_cwd"),
    (["--cwd", "work"], "work", "../training_config.yaml", "../.ds-runner/notebooks/sub/shows_cwd"),
])
def test_execute_runs_the_kernel_where_asked_and_paths_open_from_there(
        repo: Path, args: list[str], cwd: str, config_path: str, output_dir: str) -> None:
    assert main(["execute", "--repo", str(repo), "--no-html", NOTEBOOK, *args]) == 0
    assert info(repo) == {"cwd": str((repo / cwd).resolve()), "config_path": config_path,
                          "output_dir": output_dir, "config": "outcome: target",
                          "output_dir_is_dir": "True"}


def test_cwd_outside_the_repository_gets_absolute_paths(repo: Path, tmp_path_factory:
                                                        pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere").resolve()
    assert main(["run", "--repo", str(repo), "--no-html", NOTEBOOK, "--cwd", str(elsewhere)]) == 0
    assert info(repo)["cwd"] == str(elsewhere)
    assert info(repo)["config_path"] == str(repo / "training_config.yaml")


def test_run_takes_cwd_notebook(repo: Path) -> None:
    assert main(["run", "--repo", str(repo), "--no-html", NOTEBOOK, "--cwd", "notebook"]) == 0
    assert info(repo)["cwd"] == str(repo / "notebooks" / "sub")


def test_missing_cwd_exits_2_before_running(repo: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["execute", "--repo", str(repo), NOTEBOOK, "--cwd", "nowhere"]) == 2
    assert "--cwd nowhere: no such directory" in capsys.readouterr().err
    assert not (repo / ".ds-runner").exists()
