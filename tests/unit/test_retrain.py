"""``retrain:`` of a scoring config and the request a retraining pipeline is started with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.errors import ConfigError, MissingContextError
from runner.metrics import RunResult
from runner.publish.monitor import preview
from runner.publish.retrain import (
    RetrainSpec,
    measured_failures,
    parse_duration,
    reason_for,
    request_for,
)
from runner.report.gates import GateResult


@pytest.mark.parametrize(("text", "seconds"), [("1d", 86400), ("12h", 43200), ("30m", 1800),
                                               ("90s", 90), (3600, 3600), ("1.5h", 5400)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text, "retrain.cooldown", "c.yaml") == seconds


@pytest.mark.parametrize(("block", "message"), [
    ({"notebook": "n.ipynb", "cooldown": "soon"}, "'retrain.cooldown' must be a duration"),
    ({"notebook": "train.py"}, "'retrain.notebook' must name a notebook"),
    ({"cooldown": "1d"}, "missing required key 'retrain.notebook'"),
    ({"notebook": "n.ipynb", "branch": "main"}, "unknown key 'retrain.branch'"),
])
def test_bad_retrain_blocks_name_the_key(block: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RetrainSpec.from_config({"retrain": block}, "c.yaml")


def test_spec_defaults_and_the_request() -> None:
    assert RetrainSpec.from_config({}, "c.yaml") is None
    spec = RetrainSpec.from_config({"retrain": {"notebook": "nb/t.ipynb"}}, "c.yaml")
    assert spec == RetrainSpec("nb/t.ipynb", "", "1d", 86400.0)
    rows = [GateResult("drift", "drift/score_psi", 0.4, 0.2, False, "score PSI 0.4 > max 0.2"),
            GateResult("drift", "drift/psi/*", None, 0.25, False, "not recorded"),
            GateResult("max", "latency", 30.0, 20.0, False, "30 > max 20")]
    failures = measured_failures(rows)
    assert failures == rows[:1]
    request = request_for(spec, reason_for("nb/s.ipynb", failures, "pipeline #7"), "main")
    assert request.variables == {"DS_RUN_NOTEBOOKS": "nb/t.ipynb", "DS_RETRAIN_REASON":
                                 "drift in nb/s.ipynb (pipeline #7): drift/score_psi: "
                                 "score PSI 0.4 > max 0.2"}
    head, body = request.describe().split("\n", 1)
    assert head == "POST /projects/:id/pipeline" and json.loads(body)["ref"] == "main"
    assert len(reason_for("n", failures * 100)) == 500
    with pytest.raises(MissingContextError, match="CI_DEFAULT_BRANCH"):
        request_for(spec, "r", "")


def test_the_local_preview_shows_the_request_only_when_drift_failed(tmp_path: Path) -> None:
    config = tmp_path / "score_config.yaml"
    config.write_text("gates: {drift: {score_psi: {max: 0.2}}}\n"
                      "retrain: {notebook: nb/train.ipynb, ref: main}\n", encoding="utf-8")
    params = {"config_path": str(config)}
    quiet = RunResult("nb/score.ipynb", "success", metrics={"drift/score_psi": 0.1},
                      parameters=params)
    assert preview([quiet], tmp_path) == []
    drifted = RunResult("nb/score.ipynb", "success", metrics={"drift/score_psi": 0.3},
                        parameters=params)
    text = "\n".join(preview([drifted], tmp_path))
    assert "FAIL  drift" in text and "[dry-run] POST /projects/:id/pipeline" in text
    assert '"value": "nb/train.ipynb"' in text and '"ref": "main"' in text
