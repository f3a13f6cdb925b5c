"""``ds-runner run``'s summary table (runner.local.LocalOutcome.summary)."""

from __future__ import annotations

from runner.errors import ExitCode
from runner.local import LocalOutcome
from runner.metrics import RunResult


def test_per_feature_drift_measures_are_not_counted_as_more_metrics() -> None:
    metrics = {"rows_scored": 569.0, "positive_rate": 0.63, "drift/score_psi": 0.05,
               "drift/psi_max": 0.01, "mean_score": 0.6}
    metrics |= {f"drift/{kind}/f{i}": 0.0 for kind in ("psi", "ks", "ks_p", "missing")
                for i in range(30)}
    outcome = LocalOutcome([RunResult("nb.ipynb", "success", metrics, duration_s=1.0)],
                           [ExitCode.SUCCESS])
    row = outcome.summary().splitlines()[-1]
    assert "rows_scored=569" in row and row.endswith("+1 more |")
    assert "drift/psi/" not in row
