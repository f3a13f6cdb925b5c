"""``ds-runner collect --reused detect.json``: bring the results a tag pipeline reuses into
this job, so ``ds-runner release`` gates and releases the run that was reviewed.

``ds-runner detect`` left the reused notebooks out of the run and named, in detect.json, the
earlier job of the same commit that ran each one (runner.publish.reuse). This downloads each
such job's artifacts archive (``GET /projects/:id/jobs/:job_id/artifacts``, which CI_JOB_TOKEN
may read), takes only that notebook's output folder, checks that its ``metrics.json`` is the
successful run with the content key detect found, and records where it came from in
``info`` (``reused_job``, ``reused_pipeline``, their ``_url``s and ``reused_ref``), which
the release notes name. It is all or
nothing, like ``collect``: nothing is copied unless every reused result passed.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from runner.detect.contentkey import INFO_KEY
from runner.errors import RunnerError
from runner.gitlab_client import PipelineJob
from runner.metrics import METRICS_FILE, RunResult
from runner.paths import notebook_stem
from runner.publish import Outcome
from runner.publish.ci import CiEnv
from runner.publish.collect import Limits, extract
from runner.publish.reuse import Reused, read_reused

logger = logging.getLogger(__name__)


def _checked(folder: Path, reused: Reused) -> RunResult:
    """The reused run's result, marked as reused; RunnerError when it is not what detect saw."""
    path = folder / METRICS_FILE
    where = f"job {reused.job_id} ({reused.job_name})"
    try:
        result = RunResult.read(path)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise RunnerError(f"the artifacts of {where} have no readable {METRICS_FILE} for "
                          f"{reused.notebook}: {e}") from e
    if result.status != "success" or result.info.get(INFO_KEY, "") != reused.content_key:
        raise RunnerError(f"the {METRICS_FILE} of {reused.notebook} in {where} is not the "
                          f"successful run with content key {reused.content_key[:16]} that "
                          "detect found: run the tag pipeline again with DS_REUSE=false")
    result.info.update(reused_job=str(reused.job_id), reused_job_url=reused.job_url,
                       reused_pipeline=str(reused.pipeline_id),
                       reused_pipeline_url=reused.pipeline_url, reused_ref=reused.ref)
    if reused.job_url:
        result.info.setdefault("job_url", reused.job_url)   # the model file is linked there
    result.write(folder)
    return result


def collect_reused(env: CiEnv, results_dir: Path, detect_file: Path, *, dry_run: bool = False,
                   limits: Limits | None = None) -> Outcome:
    """Copy the output folder of every reused notebook from its earlier job into
    ``results_dir``; nothing to do when detect.json lists none."""
    out = Outcome()
    with out.stopping():
        _collect(env, results_dir, read_reused(detect_file), dry_run, limits or Limits(), out)
    return out


def _collect(env: CiEnv, results_dir: Path, reused: list[Reused], dry_run: bool, limits: Limits,
             out: Outcome) -> None:
    if not reused:
        out.say("detect.json lists no reused results: nothing to collect")
        return
    client = env.client("collect", dry_run=dry_run, echo=out.say, job_token_ok=True)
    if dry_run:
        for r in reused:
            out.say(f"[dry-run] would download the artifacts of job {r.job_id} ({r.job_name}) "
                    f"and copy {notebook_stem(r.notebook)}/ into {results_dir}")
        return
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".reused-", dir=results_dir.parent) as tmp:
        archive, done = Path(tmp) / "artifacts.zip", []
        staged: dict[int, Path] = {}
        for r in reused:
            # one download per job: a sequential execute job holds every notebook it ran
            staging = staged.get(r.job_id)
            if staging is None:
                staging = staged[r.job_id] = Path(tmp) / str(r.job_id)
                staging.mkdir()
                with open(archive, "w+b") as sink:
                    client.job_artifacts(r.job_id, sink, max_bytes=limits.archive_bytes)
                extract(archive, staging, PipelineJob(r.job_id, r.job_name, "success",
                                                      r.job_url, None), limits)
            folder = staging / notebook_stem(r.notebook)
            result = _checked(folder, r)
            done.append((folder, r, result))
        for folder, r, result in done:
            shutil.copytree(folder, results_dir / notebook_stem(r.notebook), dirs_exist_ok=True)
            out.say(f"reused {result.notebook} ({result.status}) from job {r.job_id} "
                    f"({r.job_name}) of pipeline {r.pipeline_id} on {r.ref or 'its ref'}: not "
                    "trained again")
    out.say(f"{len(done)} reused result(s) collected into {results_dir}")
