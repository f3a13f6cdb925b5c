"""What a notebook computes about its data and model, the same inside and outside the runner:
data checks, reference profiles and drift, per-slice metrics. Results are recorded with
``runner.metrics`` and judged by the gates in ``runner.report.gates``."""
