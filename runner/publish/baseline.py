"""The baselines on GitLab: the newest production release's metrics, and the target-branch
baseline, the newest successful job on the branch that holds this notebook's ``metrics.json``.

GitLab's artifacts-by-ref look-up (``GET /projects/:id/jobs/artifacts/:ref/raw/*path?job=``)
reads only the named job of the *latest successful pipeline* of the ref, whether or not that
pipeline ran the notebook (gitlab-org/gitlab#349316); on a busy branch that pipeline usually ran
other notebooks, or was a schedule. So this lists the project's successful jobs newest first
(``GET /projects/:id/jobs?scope[]=success``, which filters by status only, child-pipeline jobs
included), keeps those on the branch under a name the notebook runs as, skips those whose
pipeline failed or was canceled, and reads the file from each
(``GET /projects/:id/jobs/:job_id/artifacts/*path``) until one has it. Both bounds are fixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from runner.detect.childpipeline import job_name as child_job_name
from runner.errors import GitLabError
from runner.gitlab_client import GitLabClient, ProjectJob, Release
from runner.metrics import METRICS_FILE, RunResult
from runner.models import DEFAULT_TAG_REGEX as DEFAULT_TAG_REGEX  # one definition, re-exported
from runner.models import production_tags as production_tags
from runner.report.release_notes import parse_release_metrics
from runner.report.render import BaselineOrigin
from runner.report.runs import LocalRun

logger = logging.getLogger(__name__)
DEFAULT_BASELINE_JOB = "execute-notebook"

PER_PAGE = 100
MAX_JOBS = 500        # successful jobs looked at, all branches: five pages of 100
MAX_PROBES = 20       # artifact files tried
SKIPPED_PIPELINES = frozenset({"failed", "canceled", "canceling"})


@dataclass
class JobWalk:
    """The project's successful jobs, newest first (``GET /projects/:id/jobs?scope[]=success``,
    child-pipeline jobs included), that have an artifacts archive, whose pipeline neither failed
    nor was canceled and that ``keep`` accepts; at most ``max_jobs`` jobs are looked at.
    ``seen`` says how far it went, ``exhausted`` whether it stopped at that bound. The baseline,
    the reuse search and the shadow comparison's scheduled input all walk the jobs this way."""

    client: GitLabClient
    keep: Callable[[ProjectJob], bool]
    max_jobs: int = MAX_JOBS
    seen: int = 0
    exhausted: bool = False

    def __iter__(self) -> Iterator[ProjectJob]:
        for job in self.client.project_jobs("success", per_page=PER_PAGE):
            self.seen += 1
            if job.has_archive and job.pipeline_status not in SKIPPED_PIPELINES \
                    and self.keep(job):
                yield job
            if self.seen >= self.max_jobs:
                self.exhausted = True
                return


@dataclass(frozen=True)
class Baseline:
    metrics: dict[str, float] | None
    origin: BaselineOrigin | None          # None: no branch to search


def _metrics(data: bytes, where: str) -> dict[str, float] | None:
    try:
        return dict(RunResult.from_dict(json.loads(data)).metrics)
    except (ValueError, TypeError, KeyError) as e:
        logger.warning("unreadable baseline %s: %s", where, e)
        return None


def _by_ref(client: GitLabClient, ref: str, path: str, names: list[str], why: str) -> Baseline:
    """The old look-up, for a token that may not list jobs: the latest successful pipeline."""
    note = f"only the latest successful pipeline was read ({why})"
    for name in names:
        data = client.artifact_file(ref, path, name)
        metrics = _metrics(data, f"{path} of {name} on {ref}") if data is not None else None
        if metrics is not None:
            return Baseline(metrics, BaselineOrigin(ref, note=f"latest successful pipeline, "
                                                              f"job {name}"))
    return Baseline(None, BaselineOrigin(ref, note=note))


def find_baseline(client: GitLabClient, ref: str, path: str, names: list[str], *,
                  max_jobs: int = MAX_JOBS, max_probes: int = MAX_PROBES) -> Baseline:
    """The metrics in ``path`` of the newest successful job named one of ``names`` on ``ref``
    whose pipeline neither failed nor was canceled; else ``metrics`` None and how far the
    search went."""
    walk = JobWalk(client, lambda job: job.ref == ref and not job.tag and job.name in names,
                   max_jobs)
    probed = 0
    stopped = ""
    try:
        for job in walk:
            probed += 1
            try:
                data = client.job_artifact_file(job.id, path)
            except GitLabError as e:
                logger.warning("skipping job %s on %s: %s", job.id, ref, e)
                data = None
            metrics = _metrics(data, f"{path} of job {job.id}") if data is not None else None
            if metrics is not None:
                logger.info("baseline %s on %s: job %s (%s) of pipeline %s, commit %s",
                            path, ref, job.id, job.name, job.pipeline_id, job.sha[:8])
                return Baseline(metrics, BaselineOrigin(
                    ref, job.sha, job.commit_url, job.pipeline_id, job.pipeline_url,
                    job.id, job.web_url, walk.seen))
            if probed >= max_probes:
                stopped = f"the search stops after {max_probes} jobs without the file"
                break
        if walk.exhausted:
            stopped = f"the search stops after the newest {max_jobs} successful jobs"
    except GitLabError as e:
        logger.warning("cannot list the project's jobs (%s); falling back to the latest "
                       "successful pipeline of %s", e, ref)
        return _by_ref(client, ref, path, names, "the token may not list jobs")
    logger.info("no baseline %s on %s: looked at %d successful jobs (newest first) for %s and "
                "tried %d artifact files%s", path, ref, walk.seen, " or ".join(names), probed,
                f"; {stopped}" if stopped else "")
    return Baseline(None, BaselineOrigin(ref, searched=walk.seen, note=stopped))


def newest_production_release(client: GitLabClient, tag_regex: str, exclude_tag: str = ""
                              ) -> Release | None:
    """The newest release whose tag is a production tag (other than ``exclude_tag``)."""
    pattern = production_tags(tag_regex)
    return next((rel for rel in client.releases()
                 if rel.tag_name != exclude_tag and pattern.search(rel.tag_name)), None)


def production_baseline(client: GitLabClient, tag_regex: str, exclude_tag: str = ""
                        ) -> tuple[str, dict[str, dict[str, float]] | None]:
    """(tag, {notebook: metrics}) of the newest release whose tag matches; ("", None) if none."""
    rel = newest_production_release(client, tag_regex, exclude_tag)
    if rel is None:
        return "", None
    metrics = parse_release_metrics(rel.description)
    if metrics is None:
        logger.warning("release %s has no ds-pipeline metrics block; no production baseline",
                       rel.tag_name)
    return rel.tag_name, metrics


def baseline_job_names(run: LocalRun, job: str) -> list[str]:
    """The names a notebook's results can be found under on the target branch: ``job``
    (``--baseline-job``, sequential mode), the job the run recorded (``info.job_name``) and the
    parallel-mode child job ``execute:<path without .ipynb>``."""
    recorded = str(run.result.info.get("job_name", "") or "")
    names = (job, recorded, child_job_name(run.result.notebook))
    return list(dict.fromkeys(n for n in names if n))


def target_baseline(client: GitLabClient, run: LocalRun, ref: str, job: str) -> Baseline:
    """Metrics of the newest successful job on ``ref`` that holds this notebook's
    ``metrics.json`` (runner.publish.baseline), with the commit and pipeline it came from."""
    if not ref:
        return Baseline(None, None)
    path = f"{run.artifact_dir}/{METRICS_FILE}"
    return find_baseline(client, ref, path, baseline_job_names(run, job))
