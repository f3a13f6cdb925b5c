"""``ds-runner execute`` on real papermill kernels, one tiny purpose-named notebook per case."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from runner.cli import main
from runner.metrics import RunResult
from tests.git_helpers import FIXTURE_NOTEBOOKS, notebook_repo

pytestmark = pytest.mark.integration

FIXTURES = FIXTURE_NOTEBOOKS
TOKEN = "tok-3f9a77c1d2e4"
PARAM_SECRET = "param-8b1e55aa90"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the fixture notebooks and a training config."""
    return notebook_repo(tmp_path)


def execute(repo: Path, *args: str) -> int:
    return main(["execute", "--repo", str(repo), *args])


def folder(repo: Path, name: str) -> Path:
    return repo / ".ds-runner" / "notebooks" / name


def result(repo: Path, name: str) -> RunResult:
    return RunResult.read(folder(repo, name) / "metrics.json")


def executed(repo: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(folder(repo, name) / f"{name}.ipynb", as_version=4)


def outputs_text(nb: nbformat.NotebookNode) -> str:
    return json.dumps([c.get("outputs", []) for c in nb.cells])


def test_success_writes_every_output(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/success.ipynb", "-p", "n", "4") == 0

    out = folder(repo, "success")
    res = result(repo, "success")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert res.notebook == "notebooks/success.ipynb"
    assert res.status == "success" and res.error is None
    assert res.metrics == {"answer": 42.0, "n_squared": 16.0}
    assert res.info["cwd"] == str(repo.resolve())
    assert res.info["config_path"] == "training_config.yaml"
    assert res.info["output_dir"] == ".ds-runner/notebooks/success"
    assert res.info["mlflow"] == (repo.resolve() / ".ds-runner" / "mlruns").as_uri()
    assert res.parameters == {"config_path": "training_config.yaml", "device": "cpu",
                              "output_dir": ".ds-runner/notebooks/success", "n": 4}
    assert res.git_sha == head
    assert dt.datetime.fromisoformat(res.started_at).tzinfo is not None
    assert 0 < res.duration_s < 60
    assert res.artifacts == {"notebook": "success.ipynb", "html": "success.html",
                             "metrics_report": "metrics.txt"}
    assert (out / "metrics.txt").read_text() == "answer 42\nn_squared 16\n"
    nb = executed(repo, "success")
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "n = 4" in injected[0].source
    assert "done 4" in outputs_text(nb)
    assert "done 4" in (out / "success.html").read_text()
    assert "notebooks/success.ipynb: success in" in capsys.readouterr().err


def test_ci_job_links_are_recorded_for_the_reports(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_JOB_URL", "https://gitlab.example/g/p/-/jobs/77")
    monkeypatch.setenv("CI_PIPELINE_ID", "1234")
    assert execute(repo, "notebooks/success.ipynb", "--no-html") == 0
    info = result(repo, "success").info
    assert info["job_url"] == "https://gitlab.example/g/p/-/jobs/77"
    assert info["pipeline_id"] == "1234"


def test_raising_cell_exits_1_and_saves_error_cells(repo: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/raises.ipynb", "--no-html") == 1

    err = capsys.readouterr().err
    assert "failed in" in err and "In [4] raised ValueError: boom" in err
    res = result(repo, "raises")
    assert res.status == "failed"
    assert (res.error.cell_index, res.error.ename, res.error.evalue) == (3, "ValueError", "boom")
    assert res.metrics == {"before_error": 1.0}  # recorded before the failure
    nb = executed(repo, "raises")
    markers = [c for c in nb.cells if "papermill-error-cell-tag" in c.metadata.get("tags", [])]
    assert len(markers) == 2
    assert '"ename": "ValueError"' in outputs_text(nb)


def test_cell_timeout_exits_3_with_partial_notebook(repo: Path) -> None:
    assert execute(repo, "notebooks/slow_cell.ipynb", "--cell-timeout", "1", "--no-html") == 3

    res = result(repo, "slow_cell")
    assert res.status == "timeout" and res.duration_s < 20
    assert res.error is not None and "cell timeout of 1s" in res.error.evalue
    nb = executed(repo, "slow_cell")
    assert "started" in outputs_text(nb)
    assert "never reached" not in outputs_text(nb)
    assert any("ds-runner stopped the notebook here" in c.source for c in nb.cells)


def test_notebook_timeout_exits_3(repo: Path) -> None:
    code = execute(repo, "notebooks/slow_cell.ipynb", "--timeout", "2", "-p", "seconds", "0.2",
                   "-p", "steps", "100", "--no-html")
    assert code == 3
    res = result(repo, "slow_cell")
    assert res.error is not None and "notebook ran past its timeout of 2s" in res.error.evalue
    assert res.duration_s < 20


def test_notebook_timeout_bounds_many_short_cells(repo: Path) -> None:
    # 400 cells of 10 ms: each far shorter than what is left of the deadline when it starts.
    assert execute(repo, "notebooks/short_cells.ipynb", "--timeout", "3", "--no-html") == 3

    res = result(repo, "short_cells")
    assert res.status == "timeout" and res.error is not None
    assert res.error.cell_index is not None  # cells ran, then the deadline passed
    assert "notebook ran past its timeout of 3s" in res.error.evalue
    nb = executed(repo, "short_cells")
    begin = dt.datetime.fromisoformat(nb.metadata.papermill.start_time)
    starts = [dt.datetime.fromisoformat(c.metadata.papermill.start_time) for c in nb.cells
              if c.metadata.get("papermill", {}).get("start_time")]
    assert max(starts) - begin < dt.timedelta(seconds=3.5)  # no cell starts past the deadline
    assert "last cell" not in outputs_text(nb)
    assert any("ds-runner stopped the notebook here" in c.source for c in nb.cells)
    assert res.duration_s < 3 + 15  # a safety limit, not a speed target


def test_saving_is_throttled_and_the_last_save_is_complete(tmp_path: Path) -> None:
    from papermill.iorw import load_notebook_node

    from runner.execute.engine import run_notebook
    from runner.execute.injection import inject_parameters

    nb = inject_parameters(load_notebook_node(str(FIXTURES / "short_cells.ipynb")),
                           "python3", "python", {"pause": 0})
    saves: list[str] = []
    outcome = run_notebook(nb, kernel_name="python3", cwd=tmp_path, env=dict(os.environ),
                           writer=lambda node: saves.append(nbformat.writes(node)))

    assert outcome.status == "success"
    # papermill saves the whole notebook twice per cell: O(cells**2) for short cells.
    assert len(saves) < len(nb.cells) / 4
    assert "last cell" in saves[-1]
    assert saves[-1] == nbformat.writes(nb)


def test_dead_kernel_exits_4_and_keeps_notebook(repo: Path) -> None:
    assert execute(repo, "notebooks/dies.ipynb", "--no-html") == 4

    res = result(repo, "dies")
    assert res.status == "kernel_died"
    assert res.metrics == {"before_death": 1.0}
    assert "alive" in outputs_text(executed(repo, "dies"))


def test_unknown_parameter_exits_2_before_running(repo: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/success.ipynb", "-p", "nope", "1") == 2
    assert "unknown parameter 'nope'" in capsys.readouterr().err
    assert not (repo / ".ds-runner").exists()


@pytest.mark.parametrize("args, message", [
    (["-p", "n", "three"], "parameter 'n' expects an integer"),
    (["--config", "missing.yaml"], "missing.yaml: config file not found"),
    (["-p", "device", "cuda"], "'device' is set by ds-runner"),
])
def test_usage_errors_exit_2(repo: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                             message: str) -> None:
    assert execute(repo, "notebooks/success.ipynb", *args) == 2
    assert message in capsys.readouterr().err
    assert not (repo / ".ds-runner").exists()


def test_broken_config_exits_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "training_config.yaml").write_text("a: [1,\n", encoding="utf-8")
    assert execute(repo, "notebooks/success.ipynb") == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_missing_parameters_cell_warns_and_runs(repo: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/no_parameters.ipynb", "--no-html") == 0
    assert "no cell tagged 'parameters'" in capsys.readouterr().err
    nb = executed(repo, "no_parameters")
    assert "injected-parameters" in nb.cells[0].metadata["tags"]
    assert "no parameters cell 42" in outputs_text(nb)


def test_missing_kernelspec_falls_back(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert execute(repo, "notebooks/missing_kernelspec.ipynb", "--no-html") == 0
    assert "'no-such-kernel-xyz', which is not installed; using 'python3'" in \
        capsys.readouterr().err
    assert "ran on" in outputs_text(executed(repo, "missing_kernelspec"))


def test_secrets_reach_no_output(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DS_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("API_KEY_SOURCE", PARAM_SECRET)
    code = execute(repo, "notebooks/prints_secret.ipynb", "--secret-parameter", "api_key",
                   "API_KEY_SOURCE", "-p", "fail", "true", "--json")
    assert code == 1  # the last cell raises with the secret in its message

    files = [p for p in folder(repo, "prints_secret").rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"prints_secret.ipynb", "prints_secret.html",
                                       "metrics.json", "metrics.txt", "records.jsonl"}
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data and PARAM_SECRET.encode() not in data, path
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err
    assert PARAM_SECRET not in captured.out + captured.err
    res = result(repo, "prints_secret")
    assert res.parameters["api_key"] == "[MASKED]"
    assert res.info["leak"] == "[MASKED]"
    assert res.error is not None and res.error.evalue == "leaking [MASKED]"
    assert "[MASKED]" in outputs_text(executed(repo, "prints_secret"))


def test_values_are_coerced_to_the_default_type(repo: Path) -> None:
    code = execute(repo, "notebooks/typed_parameters.ipynb", "--no-html",
                   "-p", "count", "5", "-p", "rate", "1", "-p", "flag", "yes", "-p", "name", "12",
                   "-p", "layers", "[3, 4]", "-p", "options", "{b: 2}", "-p", "anything", "7",
                   "-p", "epochs", "2")
    assert code == 0
    info = result(repo, "typed_parameters").info
    assert info.pop("content_key").startswith("ck1-")  # the runner's own (contentkey.py)
    assert info == {
        "count": "int:5", "rate": "float:1.0", "flag": "bool:True", "name": "str:'12'",
        "layers": "list:[3, 4]", "options": "dict:{'b': 2}", "anything": "int:7",
        "epochs": "int:2"}


def test_figures_and_metrics_are_recorded(repo: Path) -> None:
    assert execute(repo, "notebooks/records_metrics.ipynb", "--no-html") == 0
    res = result(repo, "records_metrics")
    assert res.metrics == {"auc": 0.97, "latency_ms": 1.5}
    assert res.figures == {"roc": "figures/roc.png"}
    assert res.info == {"model": "xgb_model.json", "content_key": res.info["content_key"]}
    png = folder(repo, "records_metrics") / "figures" / "roc.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stale_outputs_are_cleared_but_nested_notebooks_kept(repo: Path) -> None:
    (repo / "notebooks" / "success").mkdir()
    shutil.copy(FIXTURES / "trivial.ipynb", repo / "notebooks" / "success" / "inner.ipynb")
    out = folder(repo, "success")
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "old.png").write_bytes(b"old")
    (out / "stale.txt").write_text("old")
    (out / "inner").mkdir()
    (out / "inner" / "metrics.json").write_text("{}")

    assert execute(repo, "notebooks/success.ipynb", "--no-html") == 0
    assert not (out / "stale.txt").exists() and not (out / "figures").exists()
    assert (out / "inner" / "metrics.json").exists()
    assert (out / "success.ipynb").exists()


def test_from_detect_runs_in_order_and_continues(repo: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    detect = repo / "detect.json"
    detect.write_text(json.dumps({"notebooks": ["notebooks/raises.ipynb",
                                                "notebooks/no_parameters.ipynb"],
                                  "skip": False, "reason": "push"}))
    assert execute(repo, "--from-detect", str(detect), "--no-html", "--json") == 1

    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["notebook"], r["status"], r["exit_code"]) for r in lines] == [
        ("notebooks/raises.ipynb", "failed", 1),
        ("notebooks/no_parameters.ipynb", "success", 0)]
    assert Path(lines[1]["output_notebook"]).name == "no_parameters.ipynb"
    assert (repo / Path(lines[1]["output_notebook"])).exists() or \
        Path(lines[1]["output_notebook"]).exists()
    assert set(lines[0]) >= {"notebook", "status", "metrics", "figures", "duration_s", "device",
                             "parameters", "started_at", "git_sha", "exit_code",
                             "output_notebook"}
    assert captured.err.index("raises.ipynb: failed") < captured.err.index(
        "no_parameters.ipynb: success")


def test_from_detect_skip_runs_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    detect = repo / "detect.json"
    detect.write_text(json.dumps({"notebooks": ["notebooks/success.ipynb"], "skip": True,
                                  "reason": "[skip run] in the commit message"}))
    assert execute(repo, "--from-detect", str(detect)) == 0
    assert "nothing to run ([skip run]" in capsys.readouterr().err
    assert not (repo / ".ds-runner").exists()


def test_usage_error_in_any_notebook_runs_none(repo: Path) -> None:
    assert execute(repo, "notebooks/no_parameters.ipynb", "notebooks/missing.ipynb") == 2
    assert not (repo / ".ds-runner").exists()


def test_console_script_reads_detect_output_from_stdin(repo: Path) -> None:
    script = Path(sys.executable).parent / "ds-runner"
    done = subprocess.run(
        [str(script), "execute", "--from-detect", "-", "--no-html", "--json"], cwd=repo,
        input=json.dumps({"notebooks": ["notebooks/trivial.ipynb"], "skip": False}),
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "success" and data["exit_code"] == 0
    assert data["output_notebook"] == ".ds-runner/notebooks/trivial/trivial.ipynb"


@pytest.mark.parametrize("worker", ["alive", "none", "killed"])
def test_html_rendering_masks_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      worker: str) -> None:
    from runner.execute import html as htmlexport
    from runner.masking import Masker

    if worker == "none":
        monkeypatch.setattr(htmlexport, "_worker", None)
    else:
        htmlexport.warm()
        assert htmlexport._worker is not None
        if worker == "killed":  # a dead worker means rendering here, not a hang or a crash
            htmlexport._worker[0].kill()
            htmlexport._worker[0].join()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"key {TOKEN}")])
    path = htmlexport.render(nb, tmp_path / "out.html", Masker([TOKEN]))
    text = path.read_text()
    assert "<html" in text and "key [MASKED]" in text and TOKEN not in text
    if worker == "killed":
        assert htmlexport._worker is None


def test_html_after_a_cut_short_run_is_bounded(tmp_path: Path) -> None:
    from runner.execute import html as htmlexport

    htmlexport.warm()
    worker = htmlexport._worker
    assert worker is not None
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {i}")
                                         for i in range(500)])
    with pytest.raises(TimeoutError, match="skipped"):  # never rendered here instead
        htmlexport.render(nb, tmp_path / "out.html", limit=0.01)
    assert not (tmp_path / "out.html").exists()
    assert htmlexport._worker is None and not worker[0].is_alive()
