"""Result fixtures for the report, comment, wiki and release tests (no kernels needed)."""

from __future__ import annotations

from pathlib import Path

from runner.metrics import CellError, RunResult

# A 1x1 PNG, enough to upload and link.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

TRAINING_CONFIG = """\
metrics:
  auc: {direction: higher}
  logloss: {direction: lower}
gates:
  thresholds:
    auc: {min: 0.95}
    logloss: {max: 0.3}
  no_regression:
    - {metric: auc, tolerance: 0.01}
"""


def make_result(notebook: str = "notebooks/train.ipynb", *, status: str = "success",
                metrics: dict[str, float] | None = None, started_at: str = "2026-11-22T10:00:00Z",
                figure: bool = True, error: CellError | None = None,
                info: dict[str, str] | None = None) -> RunResult:
    stem = notebook.rsplit("/", 1)[-1].removesuffix(".ipynb")
    return RunResult(
        notebook=notebook, status=status,
        metrics={"auc": 0.97, "logloss": 0.21} if metrics is None else metrics,
        figures={"roc": "figures/roc.png"} if figure else {},
        info={"mlflow_run_url": "http://mlflow.example/#/experiments/1/runs/abc",
              "model_path": "models/xgb_model.json"} if info is None else info,
        duration_s=12.5, started_at=started_at, git_sha="0123456789abcdef" * 2 + "01234567",
        error=error, artifacts={"notebook": f"{stem}.ipynb", "html": f"{stem}.html",
                                "metrics_report": "metrics.txt"})


def write_result(results_dir: Path, result: RunResult) -> Path:
    """Write ``metrics.json`` (and the figure) the way ``ds-runner execute`` lays them out."""
    folder = results_dir / result.notebook.removesuffix(".ipynb")
    result.write(folder)
    for rel in result.figures.values():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(PNG)
    if "model_path" in result.info:      # the notebook copies its model into the output folder
        (folder / Path(result.info["model_path"]).name).write_text("{}", encoding="utf-8")
    return folder


def write_config(repo: Path, text: str = TRAINING_CONFIG) -> Path:
    path = repo / "training_config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
