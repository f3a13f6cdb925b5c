"""A data check with ``on_fail: stop`` ends a real notebook run: the inference example on a broken
input through ``ds-runner execute`` exits 1 with the notebook saved, and its report's data gate
names every failing check."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml

from runner.cli import main
from runner.metrics import RunResult
from runner.report.runs import gate_rows, load_runs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_broken_input_stops_the_inference_notebook(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    broken = pd.read_csv(ROOT / "data" / "inference_input.csv").drop(columns=["mean_texture"])
    broken.loc[[0, 1, 2], "mean_radius"] = np.nan
    broken.loc[4, "mean_area"] = 1e6
    source = tmp_path / "broken.csv"
    broken.to_csv(source, index=False)
    config = yaml.safe_load((ROOT / "inference_config.yaml").read_text(encoding="utf-8"))
    config["input"]["path"] = str(source)
    config["data_checks"]["input"]["on_fail"] = "stop"
    config_path = tmp_path / "inference_config.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "out"

    code = main(["execute", "--repo", str(ROOT), "--no-html", "--config", str(config_path),
                 "--output-dir", str(out), "notebooks/inference_example.ipynb"])

    assert code == 1
    assert "DataCheckError" in capsys.readouterr().err
    folder = out / "notebooks" / "inference_example"
    result = RunResult.read(folder / "metrics.json")
    assert result.status == "failed" and result.error and result.error.ename == "DataCheckError"
    assert result.error.evalue.startswith("4 of 9 data checks of 'input' failed (on_fail: stop)")
    assert "rows_scored" not in result.metrics, "nothing may be scored after the checks fail"
    saved = nbformat.read(next(folder.glob("*.ipynb")), as_version=4)
    assert any(o.get("ename") == "DataCheckError" for c in saved.cells
               for o in c.get("outputs", []))
    run, = load_runs(out, ROOT)
    rows = {r.metric: r for r in gate_rows(run, None) if r.gate == "data"}
    assert sorted(m for m, r in rows.items() if not r.passed) == [
        "data/input/columns", "data/input/nulls", "data/input/range/mean_area",
        "data/input/range/mean_texture"]
    assert rows["data/input/nulls"].detail == "nulls in `mean_radius`: 3 > 0"
