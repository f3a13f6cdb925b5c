"""The pure parts around ``ds-runner execute``: folders, exit codes, detect files, device, kernel
choice and masked notebook writes. No kernel is started."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from runner.errors import UsageError
from runner.execute.device import detect_device
from runner.execute.kernels import choose_kernel
from runner.execute.notebook import describe, exit_code_for, overall_exit_code, read_detect_file
from runner.execute.outputs import NotebookWriter, clear_stale, notebook_output_dir
from runner.masking import Masker
from runner.metrics import CellError, RunResult


def test_notebook_output_dir() -> None:
    assert notebook_output_dir(Path(".ds-runner"), "notebooks/train.ipynb") == \
        Path(".ds-runner/notebooks/train")
    assert notebook_output_dir(Path("/out"), "a.b.ipynb") == Path("/out/a.b")


def test_clear_stale_keeps_nested_notebook_folders(tmp_path: Path) -> None:
    sources = tmp_path / "repo" / "notebooks" / "a"
    sources.mkdir(parents=True)
    (sources / "b.ipynb").write_text("{}")
    folder = tmp_path / "out" / "notebooks" / "a"
    for name in ("figures", "b", "old"):
        (folder / name).mkdir(parents=True)
    (folder / "metrics.json").write_text("{}")
    clear_stale(folder, sources)
    assert sorted(p.name for p in folder.iterdir()) == ["b"]
    clear_stale(tmp_path / "missing", sources)  # no folder yet: nothing to do


def _result(status: str, error: CellError | None = None) -> RunResult:
    return RunResult(notebook="n.ipynb", status=status, duration_s=1.25, error=error)


def test_exit_codes_and_severity() -> None:
    codes = {s: exit_code_for(_result(s)) for s in ("success", "failed", "timeout",
                                                      "kernel_died")}
    assert codes == {"success": 0, "failed": 1, "timeout": 3, "kernel_died": 4}
    assert overall_exit_code([]) == 0
    assert overall_exit_code([_result("failed"), _result("kernel_died"),
                              _result("timeout")]) == 4
    assert overall_exit_code([_result("success"), _result("timeout"), _result("failed")]) == 3


def test_a_notebook_rejecting_its_config_is_a_config_error() -> None:
    bad_config = _result("failed", CellError(cell_index=2, ename="ConfigError",
                                             evalue="training_config.yaml: missing key 'x'"))
    assert exit_code_for(bad_config) == 2
    assert exit_code_for(_result("failed", CellError(2, "KeyError", "'x'"))) == 1


def test_describe() -> None:
    assert describe(_result("success")) == "success in 1.2s"
    failed = _result("failed", CellError(3, "ValueError", "boom"))
    assert describe(failed) == "failed in 1.2s: cell 3 raised ValueError: boom"
    timed = _result("timeout", CellError(2, "Timeout", "the cell ran past the cell timeout of 1s"))
    assert describe(timed) == "timeout in 1.2s: cell 2: the cell ran past the cell timeout of 1s"


def test_read_detect_file(tmp_path: Path) -> None:
    path = tmp_path / "detect.json"
    path.write_text(json.dumps({"notebooks": ["a.ipynb"], "skip": False, "reason": "push"}))
    assert read_detect_file(str(path)) == (["a.ipynb"], False, "push")
    path.write_text(json.dumps({"notebooks": "a.ipynb"}))
    with pytest.raises(UsageError, match="expected ds-runner detect --json output"):
        read_detect_file(str(path))
    path.write_text("not json")
    with pytest.raises(UsageError, match="cannot read detect output"):
        read_detect_file(str(path))
    with pytest.raises(UsageError, match="cannot read detect output"):
        read_detect_file(str(tmp_path / "missing.json"))


def test_device_overrides() -> None:
    assert detect_device({"DS_DEVICE": "mps"}) == "mps"
    assert detect_device({"CUDA_VISIBLE_DEVICES": "-1"}) == "cpu"
    assert detect_device({"CUDA_VISIBLE_DEVICES": ""}) == "cpu"
    assert detect_device({}) in ("cpu", "cuda")


def test_kernel_choice() -> None:
    python = {"kernelspec": {"name": "python3", "language": "python"}}
    assert choose_kernel(python).name == "python3"
    gone = choose_kernel({"kernelspec": {"name": "gone-xyz", "language": "python"}})
    assert (gone.name, gone.fallback_from) == ("python3", "gone-xyz")
    with pytest.raises(UsageError, match="kernel 'nope-xyz' is not installed"):
        choose_kernel(python, "nope-xyz")
    with pytest.raises(UsageError, match="no installed kernel runs cobol"):
        choose_kernel({"kernelspec": {"name": "cobol-k", "language": "cobol"}})


def test_writer_masks_outputs_and_rewrites_injected_cell(tmp_path: Path) -> None:
    secret, short = "hunter2-secret", "abc"
    nb = nbformat.v4.new_notebook()
    injected = nbformat.v4.new_code_cell(f'key = "{short}"\ntoken = "{secret}"')
    injected.metadata["tags"] = ["injected-parameters"]
    shown = nbformat.v4.new_code_cell("print(token)")
    shown.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"value {secret}\n"),
        nbformat.v4.new_output("display_data", data={"text/html": f"<b>{secret}</b>",
                                                     "image/png": "iVBORw0KGgo="}),
    ]
    nb.cells = [injected, shown]
    path = tmp_path / "out.ipynb"
    writer = NotebookWriter(path, Masker([secret]), "python3", "python",
                            {"key": "[MASKED]", "token": "[MASKED]"})
    writer(nb)
    text = path.read_text()
    assert secret not in text and short not in text
    saved = nbformat.read(path, as_version=4)
    assert saved.cells[0].source == '# Parameters\nkey = "[MASKED]"\ntoken = "[MASKED]"\n'
    assert saved.cells[1].outputs[0].text == "value [MASKED]\n"
    assert saved.cells[1].outputs[1].data["image/png"] == "iVBORw0KGgo="
    assert secret in nb.cells[1].outputs[0].text  # the live notebook is left alone


def test_papermill_is_imported_without_pyarrow() -> None:
    """papermill imports pyarrow, when installed, only for hdfs:// paths (~0.14 s); ds-runner
    imports papermill without it, and pyarrow stays importable for whoever needs it."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("pyarrow") is None:
        pytest.skip("pyarrow is not installed")
    code = ("import sys\n"
            "from runner.config import parameter_values\n"
            "parameter_values([], ['{a: 1}'], [])\n"
            "from runner.execute.notebook import load_declared\n"
            "assert 'papermill.iorw' in sys.modules\n"
            "assert 'pyarrow' not in sys.modules, 'pyarrow was imported'\n"
            "import pyarrow.fs\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
