"""The job log of ``ds-runner execute``: live cells and output, failing cells, no noise, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.metrics import RunResult
from tests.git_helpers import notebook_repo

pytestmark = pytest.mark.integration

TOKEN = "tok-77d1c3a9e5b2"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    notebook_repo(tmp_path, commit=False)
    for name in ("CI", "GITLAB_CI", "NO_COLOR", "DS_LOG_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def execute(repo: Path, *args: str) -> int:
    return main(["execute", "--repo", str(repo), "--no-html", *args])


def result(repo: Path, name: str) -> RunResult:
    return RunResult.read(repo / ".ds-runner" / "notebooks" / name / "metrics.json")


def test_in_ci_each_cell_and_its_output_show_as_they_run(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "true")
    assert execute(repo, "notebooks/talks.ipynb") == 0

    err = capsys.readouterr().err
    lines = err.splitlines()
    starts = [line for line in lines if " In [" in line and "/3] at " in line]
    assert [s.split("notebooks/talks.ipynb: ")[1].split(" at ")[0] for s in starts] == \
        ["In [1/3]", "In [2/3]", "In [3/3]"]  # the empty cell is not run, so not counted
    assert starts[1].endswith(": import sys") and starts[2].endswith(": print('half', end='', "
                                                                     "flush=True)")
    assert lines.index("first out") > lines.index(starts[1])
    assert lines.index("then err") < lines.index(starts[2]) < lines.index("half and whole")


def test_live_output_is_masked(repo: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DS_TEST_TOKEN", TOKEN)
    assert execute(repo, "notebooks/prints_secret.ipynb", "--log-output") == 0

    err = capsys.readouterr().err
    assert "env token [MASKED]" in err
    assert TOKEN not in err


def test_no_live_output_outside_ci_or_when_turned_off(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/talks.ipynb") == 0
    monkeypatch.setenv("CI", "true")
    assert execute(repo, "notebooks/talks.ipynb", "--no-log-output") == 0
    monkeypatch.setenv("DS_LOG_OUTPUT", "false")
    assert execute(repo, "notebooks/talks.ipynb") == 0

    err = capsys.readouterr().err
    assert "first out" not in err and "In [" not in err
    assert err.count("talks.ipynb: success in") == 3


def test_a_failing_cell_shows_in_n_its_line_and_traceback(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/raises.ipynb") == 1

    err = capsys.readouterr().err
    # parameters In [1], injected In [2], record In [3], the raise In [4] (cell index 3)
    assert "notebooks/raises.ipynb: In [4] raised ValueError: boom" in err
    assert "notebooks/raises.ipynb: In [4], line 1: raise ValueError('boom')" in err
    assert "Traceback (most recent call last)" in err
    assert "failed in" in err and ": In [4] raised ValueError: boom ->" in err
    assert "\x1b[" not in err  # not a terminal, not GitLab: no colour codes
    error = result(repo, "raises").error
    assert error is not None and (error.cell_index, error.execution_count) == (3, 4)


def test_gitlab_gets_the_traceback_in_colour(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    assert execute(repo, "notebooks/raises.ipynb") == 1

    assert "\x1b[" in capsys.readouterr().err


def test_an_undefined_magic_has_a_message(repo: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/undefined_magic.ipynb") == 1

    message = "UsageError: Line magic function `%undefined-line-magic` not found."
    err = capsys.readouterr().err
    assert f"In [3] raised CellExecutionError: {message} ->" in err
    error = result(repo, "undefined_magic").error
    assert error is not None and error.evalue == message


def test_no_kernel_or_nbformat_noise(repo: Path, capfd: pytest.CaptureFixture[str]) -> None:
    nb = json.loads((repo / "notebooks" / "trivial.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        del cell["id"]
    (repo / "notebooks" / "no_ids.ipynb").write_text(json.dumps(nb), encoding="utf-8")

    assert execute(repo, "notebooks/no_ids.ipynb", "notebooks/python_kernel.ipynb") == 0

    err = capfd.readouterr().err
    assert "without encryption" not in err
    assert "MissingIDFieldWarning" not in err
    assert "not installed" not in err  # "python" is python3, as papermill takes it
    assert err.count("WARNING") == 2  # the two notebooks have no parameters cell
    saved = json.loads((repo / ".ds-runner/notebooks/no_ids/no_ids.ipynb").read_text())
    assert all(cell.get("id") for cell in saved["cells"])


def test_cell_timeouts_still_work_over_the_encrypted_connection(repo: Path) -> None:
    assert execute(repo, "notebooks/slow_cell.ipynb", "--cell-timeout", "1") == 3


def test_parameters_for_a_notebook_without_a_parameters_cell_are_refused_only(
        repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/trivial.ipynb", "-p", "n", "2") == 2

    err = capsys.readouterr().err
    assert "has no cell tagged 'parameters', so it cannot take parameters (n)" in err
    assert "WARNING" not in err


def test_a_kernel_error_names_its_notebook(repo: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    nb = json.loads((repo / "notebooks" / "trivial.ipynb").read_text(encoding="utf-8"))
    nb["metadata"]["kernelspec"] = {"name": "cobol-k", "language": "cobol", "display_name": "C"}
    (repo / "notebooks" / "cobol.ipynb").write_text(json.dumps(nb), encoding="utf-8")

    assert execute(repo, "notebooks/trivial.ipynb", "notebooks/cobol.ipynb") == 2

    assert ("error: notebooks/cobol.ipynb: asks for kernel 'cobol-k', which is not installed, "
            "and no installed kernel runs cobol") in capsys.readouterr().err


def test_json_when_nothing_ran(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/trivial.ipynb", "-p", "n", "2", "--json") == 2

    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 2 and data["status"] == "usage_error"
    assert data["notebook"] == "notebooks/trivial.ipynb"
    assert data["error"]["ename"] == "UsageError"
    assert "cannot take parameters (n)" in data["error"]["evalue"]


def test_json_carries_the_failing_cells_in_number(repo: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/raises.ipynb", "--json") == 1

    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 1
    assert data["error"] == {"cell_index": 3, "execution_count": 4, "ename": "ValueError",
                             "evalue": "boom"}
