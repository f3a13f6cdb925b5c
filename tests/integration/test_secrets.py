"""No secret value in any artifact or log line: ``ds-runner execute`` on real kernels with secrets
that equal a ``-p`` value, a notebook field name, contain quotes and backslashes, or end up in
files the notebook writes itself (its output folder and the local MLflow store)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from runner import log
from runner.cli import main
from runner.masking import Masker
from runner.metrics import RunResult
from tests.git_helpers import notebook_repo

pytestmark = pytest.mark.integration

TOKEN = "glpat-abcdef123456"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the fixture notebooks; no GitLab MLflow in the environment, and
    a log masker of its own (the CLI's is process-wide and would keep this test's secrets)."""
    monkeypatch.setattr(log, "_masker", Masker())
    for name in ("CI_API_V4_URL", "CI_PROJECT_ID", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    return notebook_repo(tmp_path)


def execute(repo: Path, *args: str) -> int:
    return main(["execute", "--repo", str(repo), *args])


def files_holding(root: Path, *secrets: str) -> list[str]:
    """Files under ``root`` whose bytes contain any of ``secrets``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and any(s.encode() in p.read_bytes() for s in secrets))


def test_parameter_equal_to_a_secret_is_masked_in_the_notebook(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    assert execute(repo, "notebooks/typed_parameters.ipynb", "-p", "name", TOKEN) == 0

    out = repo / ".ds-runner" / "notebooks" / "typed_parameters"
    assert files_holding(out, TOKEN) == []
    nb = nbformat.read(out / "typed_parameters.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "name = \"[MASKED]\"" in injected[0].source
    assert nb.metadata.papermill.parameters["name"] == "[MASKED]"
    assert TOKEN not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["outputs", "status", "metric", "parameters", "stdout"])
def test_secret_equal_to_a_field_name_breaks_nothing(
        repo: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("JOIN_KEY", value)
    assert execute(repo, "notebooks/success.ipynb", "-p", "n", "4") == 0

    out = repo / ".ds-runner" / "notebooks" / "success"
    res = RunResult.read(out / "metrics.json")
    assert res.status == "success" and res.metrics == {"answer": 42.0, "n_squared": 16.0}
    nb = nbformat.read(out / "success.ipynb", as_version=4)
    nbformat.validate(nb)
    tags = [tag for cell in nb.cells for tag in cell.metadata.get("tags", [])]
    assert tags == ["parameters", "injected-parameters"]
    assert [o.name for o in nb.cells[-1].outputs] == ["stdout"]
    assert "done 4" in nb.cells[-1].outputs[0].text
    html = (out / "success.html").read_text(encoding="utf-8")
    assert "done 4" in html
    assert ".jp-mod-outputsScrolled" in html and "--jp-statusbar-height" in html  # styles intact


def test_repr_and_json_forms_of_an_environment_secret_are_masked(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    secret = 'pa"ss\\word1'
    monkeypatch.setenv("DB_PASSWORD", secret)
    assert execute(repo, "notebooks/shows_secret_repr.ipynb") == 1

    err = capsys.readouterr().err
    assert "raised KeyError: '[MASKED]'" in err
    out = repo / ".ds-runner" / "notebooks" / "shows_secret_repr"
    forms = [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]]
    assert files_holding(out, *forms) == []
    assert not any(form in err for form in forms)
    error = RunResult.read(out / "metrics.json").error
    assert error is not None and error.evalue == "'[MASKED]'"


def test_files_the_notebook_writes_are_masked_or_named(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DS_TEST_TOKEN", TOKEN)
    assert execute(repo, "notebooks/writes_secret_files.ipynb", "--no-html") == 0

    out = repo / ".ds-runner" / "notebooks" / "writes_secret_files"
    assert (out / "notes.txt").read_text(encoding="utf-8") == "called with [MASKED]\n"
    assert json.loads((out / "run.json").read_text(encoding="utf-8")) == {
        "status": "ok", "token": "[MASKED]"}
    assert files_holding(out, TOKEN) == ["model.bin"]  # binary: not rewritten, but named
    warnings = [line for line in capsys.readouterr().err.splitlines() if "holds a secret" in line]
    assert len(warnings) == 1 and str(out / "model.bin") in warnings[0]


def test_local_mlflow_store_is_masked_with_another_output_dir(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_TEST_TOKEN", TOKEN)
    assert execute(repo, "notebooks/logs_mlflow_secret.ipynb", "--no-html",
                   "--output-dir", "elsewhere") == 0

    store = repo / ".ds-runner" / "mlruns"
    params = list(store.glob("*/*/params/api_token"))
    assert len(params) == 1 and params[0].read_text(encoding="utf-8") == "[MASKED]"
    tags = params[0].parent.parent / "tags"
    assert (tags / "note").read_text(encoding="utf-8") == "called with [MASKED]"
    assert files_holding(store, TOKEN) == []
    assert files_holding(repo / "elsewhere", TOKEN) == []


def test_short_secret_parameter_is_warned_about_once(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHORT_SOURCE", "abc")
    assert execute(repo, "notebooks/prints_secret.ipynb", "--no-html",
                   "--secret-parameter", "api_key", "SHORT_SOURCE") == 0

    err = capsys.readouterr().err
    assert err.count("shorter than 6 characters") == 1
    assert "notebooks/prints_secret.ipynb: secret parameter api_key is shorter" in err
