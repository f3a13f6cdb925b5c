"""``-f/--parameters-file`` and ``-y/--parameters-yaml`` as papermill takes them, real kernels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.cli import main
from runner.metrics import RunResult

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notebooks"
TYPED = "notebooks/typed_parameters.ipynb"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "typed_parameters.ipynb", tmp_path / TYPED)
    return tmp_path


def execute(repo: Path, *args: str) -> int:
    return main(["execute", "--repo", str(repo), "--no-html", TYPED, *args])


def test_files_yaml_and_p_merge_in_papermills_order_and_are_coerced(repo: Path) -> None:
    (repo / "first.yaml").write_text(
        "count: 4\nrate: 2\nflag: true\nname: first\nlayers: [5, 6]\nanything: 2024-01-02\n",
        encoding="utf-8")
    (repo / "second.yaml").write_text("name: second\nepochs: 7\n", encoding="utf-8")
    code = execute(repo, "-f", "first.yaml", "--parameters-file", "second.yaml",
                   "-y", "{epochs: 8, options: {c: 3}}", "--parameters-yaml", "count: 8",
                   "-p", "count", "9")
    assert code == 0
    info = RunResult.read(repo / ".ds-runner/notebooks/typed_parameters/metrics.json").info
    assert info.pop("content_key").startswith("ck1-")  # the runner's own (contentkey.py)
    assert info == {"count": "int:9", "rate": "float:2.0", "flag": "bool:True",
                    "name": "str:'second'", "layers": "list:[5, 6]",
                    "options": "dict:{'c': 3}", "anything": "str:'2024-01-02'",
                    "epochs": "int:8"}


@pytest.mark.parametrize(("content", "args", "message"), [
    (None, ["-f", "params.yaml"], "params.yaml: parameters file not found"),
    ("count: [1,\n", ["-f", "params.yaml"], "params.yaml: invalid YAML at line 2"),
    ("count: ten\n", ["-f", "params.yaml"],
     "parameter 'count' expects an integer like its default 3, got 'ten'"),
    ("nope: 1\n", ["-f", "params.yaml"], "unknown parameter 'nope'"),
    ("device: cuda\n", ["-f", "params.yaml"], "'device' is set by ds-runner"),
    (None, ["-y", "layers: 3"], "parameter 'layers' expects a list"),
    (None, ["-y", "{count: 1"], "--parameters-yaml '{count: 1': invalid YAML"),
])
def test_bad_parameter_sources_exit_2_before_running(
        repo: Path, capsys: pytest.CaptureFixture[str], content: str | None, args: list[str],
        message: str) -> None:
    if content is not None:
        (repo / "params.yaml").write_text(content, encoding="utf-8")
    assert execute(repo, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("ds-runner: error: ") and message in err
    assert not (repo / ".ds-runner").exists()


def test_run_takes_parameter_files_too(repo: Path) -> None:
    shutil.copy(FIXTURES / "success.ipynb", repo / "notebooks" / "success.ipynb")
    (repo / "training_config.yaml").write_text("outcome: target\n", encoding="utf-8")
    (repo / "params.yaml").write_text("n: 4\n", encoding="utf-8")
    code = main(["run", "--repo", str(repo), "--no-html", "notebooks/success.ipynb",
                 "-f", "params.yaml", "-y", "{n: 5}"])
    assert code == 0
    metrics = RunResult.read(repo / ".ds-runner/notebooks/success/metrics.json").metrics
    assert metrics["n_squared"] == 25
