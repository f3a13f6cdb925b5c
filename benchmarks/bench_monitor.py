"""Data checks and drift on a big scoring input, next to the time pandas takes to read it.

ROWS x 30 numeric columns (normal, a few nulls, a score column) written to Parquet in a temp
folder, with a reference profile of the same distribution stored as JSON beside it. Each round
runs one fresh Python process that reads the file (``pandas.read_parquet``: the floor), then
runs ``runner.monitor.checks.run_checks`` (every column's kind, nulls in all, ranges of 10
columns, minimum rows, duplicate ratio) and ``runner.monitor.drift.record_drift`` against the
stored profile (PSI of every column and of the score, KS of every column, missing rates;
recorded as metrics), timing each, and reports its peak resident memory (``ru_maxrss``, the
read data frame included). Medians of ROUNDS rounds. Targets (issue 11 item 5): checks + drift
under 5 s and the process under 2 GB.

    python -m benchmarks.bench_monitor [--rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROWS = 1_000_000
COLUMNS = 30
ROUNDS = 3
TARGET_S = 5.0
TARGET_BYTES = 2 * 1024**3

# One round, in a fresh process so that its peak memory is its own.
ROUND = """\
import json, resource, sys, time
import pandas as pd
from runner.monitor.checks import run_checks
from runner.monitor.drift import record_drift
from runner.monitor.profile import load_profile

data, profile_path, spec_path = sys.argv[1:4]
spec = json.loads(open(spec_path).read())
profile = load_profile(profile_path)
started = time.perf_counter()
df = pd.read_parquet(data)
read = time.perf_counter() - started
scores = df.pop("score").to_numpy()
started = time.perf_counter()
outcomes = run_checks(df, spec)
checks = time.perf_counter() - started
started = time.perf_counter()
drift = record_drift(profile, df, scores)
drift_s = time.perf_counter() - started
assert all(o.passed for o in outcomes), [o.detail for o in outcomes if not o.passed]
assert drift.psi_max is not None and drift.psi_max < 0.05, drift.psi_max
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux
print(json.dumps({"read_s": read, "checks_s": checks, "drift_s": drift_s, "peak_bytes": peak,
                  "checks": len(outcomes), "metrics": len(drift.metrics())}))
"""


def _frame(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    values = rng.normal(50.0, 10.0, size=(rows, COLUMNS))
    values[rng.random(size=values.shape) < 0.001] = np.nan      # a few nulls per column
    frame = pd.DataFrame(values, columns=[f"feature {i:02d}" for i in range(COLUMNS)])
    frame["score"] = rng.beta(2.0, 3.0, size=rows)
    return frame


def _spec() -> dict[str, Any]:
    columns = {f"feature {i:02d}": "float" for i in range(COLUMNS)}
    return {"min_rows": 1, "columns": columns,
            "ranges": {f"feature {i:02d}": {"min": -1000, "max": 1000} for i in range(10)},
            "max_duplicate_ratio": 0.01}


def prepare(work: Path, rows: int) -> tuple[Path, Path, Path]:
    """The Parquet input, the reference profile (of 200,000 rows of the same distribution)
    and the checks' spec."""
    from runner.monitor.profile import build_profile, write_profile

    data = work / "scoring.parquet"
    _frame(rows, seed=1).to_parquet(data, index=False)
    reference = _frame(min(rows, 200_000), seed=2)
    scores = reference.pop("score").to_numpy()
    profile = write_profile(build_profile(reference, scores), work / "model.profile.json")
    spec = work / "spec.json"
    spec.write_text(json.dumps(_spec()), encoding="utf-8")
    return data, profile, spec


def run(rows: int = ROWS, rounds: int = ROUNDS) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    try:
        data, profile, spec = prepare(work, rows)
        env = {**os.environ, "DS_RUNNER_OUTPUT_DIR": str(work / "out")}
        samples: list[dict[str, float]] = []
        for _ in range(rounds):
            done = subprocess.run([sys.executable, "-c", ROUND, str(data), str(profile),
                                   str(spec)], env=env, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError(f"a round failed ({done.returncode}): {done.stderr}")
            samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
        size = data.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = ("read_s", "checks_s", "drift_s", "peak_bytes")
    medians = {k: statistics.median(s[k] for s in samples) for k in keys}
    return {"rows": rows, "columns": COLUMNS, "rounds": rounds, "file_bytes": size,
            "checks": samples[0]["checks"], "metrics": samples[0]["metrics"],
            "medians": medians, "samples": samples}


def table(data: dict[str, Any]) -> str:
    m = data["medians"]
    both = m["checks_s"] + m["drift_s"]
    peak_gb = m["peak_bytes"] / 1024**3
    lines = [f"{data['rows']:,} rows x {data['columns']} numeric columns + a score column "
             f"(Parquet, {data['file_bytes'] / 1e6:.0f} MB); medians of {data['rounds']} rounds, "
             "one fresh process each:", "",
             "| step | median (s) | runs (s) | vs read |", "|---|---:|---|---:|"]
    for key, name in (("read_s", "pandas.read_parquet (the floor)"),
                      ("checks_s", f"run_checks ({data['checks']} checks)"),
                      ("drift_s", f"record_drift ({data['metrics']} metrics)")):
        runs = ", ".join(f"{s[key]:.2f}" for s in data["samples"])
        lines.append(f"| {name} | {m[key]:.2f} | {runs} | {m[key] / m['read_s']:.1f}x |")
    lines += ["", f"Checks + drift: **{both:.2f} s** (target < {TARGET_S:g} s: "
              f"{'met' if both < TARGET_S else 'missed'}); peak memory of the process, the "
              f"data frame included: **{peak_gb:.2f} GB** (target < 2 GB: "
              f"{'met' if m['peak_bytes'] < TARGET_BYTES else 'missed'})."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args([] if argv is None else argv)   # python -m benchmarks: defaults
    print(table(run(args.rows, args.rounds)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
