"""The rows production scored last: the input the newest successful scheduled scoring job kept
(``info.scored_input`` in its ``metrics.json``, a file in the notebook's output folder).

Like the target-branch baseline (``runner.publish.baseline``) this lists the project's
successful jobs newest first (``GET /projects/:id/jobs?scope[]=success``), keeps those named as
the scheduled job whose pipeline came from a schedule (``pipeline.source == "schedule"``) and did
not fail, and reads the notebook's ``metrics.json`` and then the file it names by job id
(``GET /projects/:id/jobs/:job_id/artifacts/*path``). A token that may not list jobs falls back
to the artifacts of the default branch's latest successful pipeline.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner.errors import GitLabError
from runner.gitlab_client import GitLabClient, ProjectJob
from runner.metrics import METRICS_FILE
from runner.paths import OUTPUT_DIR, notebook_stem
from runner.publish.baseline import MAX_JOBS, MAX_PROBES, JobWalk

logger = logging.getLogger(__name__)
DEFAULT_SCHEDULED_JOB = "execute-scheduled"
SCORED_INPUT = "scored_input"     # the info key the scoring notebook records the file under


@dataclass(frozen=True)
class ScheduledInput:
    """The file and where it came from (``job_id`` 0: read by ref, job unknown)."""

    data: bytes
    path: str            # in the job's artifacts
    job_id: int = 0
    job_url: str = ""
    ref: str = ""
    sha: str = ""
    job_name: str = ""
    where: str = ""      # said instead, for rows that came from no job (ds-runner shadow --local)

    @property
    def origin(self) -> str:
        """Where the rows came from, for the reports."""
        if self.where:
            return self.where
        if not self.job_id:
            return f"job `{self.job_name}` of the latest successful pipeline on `{self.ref}`"
        job = f"[job #{self.job_id}]({self.job_url})" if self.job_url else f"job #{self.job_id}"
        return f"scheduled {job} on `{self.ref}`"


def output_folder(notebook: str) -> str:
    """The notebook's output folder in a job's artifacts (``.ds-runner/<path without .ipynb>``)."""
    return f"{OUTPUT_DIR}/{notebook_stem(notebook)}"


def scored_input_path(metrics: bytes, folder: str) -> str | None:
    """The artifact path of the file named by ``info.scored_input`` (relative to the output
    folder), None when the run recorded none or the file is unreadable."""
    try:
        name = json.loads(metrics).get("info", {}).get(SCORED_INPUT)
    except (ValueError, AttributeError):
        return None
    if not isinstance(name, str) or not name or PurePosixPath(name).is_absolute() \
            or ".." in PurePosixPath(name).parts:
        return None
    return f"{folder}/{name}"


def _read(client: GitLabClient, job: ProjectJob, folder: str) -> ScheduledInput | None:
    try:
        metrics = client.job_artifact_file(job.id, f"{folder}/{METRICS_FILE}")
        path = scored_input_path(metrics, folder) if metrics is not None else None
        data = client.job_artifact_file(job.id, path) if path else None
    except GitLabError as e:
        logger.warning("skipping scheduled job %s: %s", job.id, e)
        return None
    if path is None or data is None:
        logger.info("scheduled job %s keeps no %s of %s", job.id, SCORED_INPUT, folder)
        return None
    return ScheduledInput(data, path, job.id, job.web_url, job.ref, job.sha, job.name)


def _by_ref(client: GitLabClient, ref: str, folder: str, names: list[str]
            ) -> ScheduledInput | None:
    for name in names:
        metrics = client.artifact_file(ref, f"{folder}/{METRICS_FILE}", name)
        path = scored_input_path(metrics, folder) if metrics is not None else None
        data = client.artifact_file(ref, path, name) if path else None
        if path and data is not None:
            return ScheduledInput(data, path, ref=ref, job_name=name)
    return None


def latest_scheduled_input(client: GitLabClient, notebook: str, names: list[str], *,
                           default_branch: str = "", max_jobs: int = MAX_JOBS,
                           max_probes: int = MAX_PROBES) -> ScheduledInput | None:
    """The scored input of the newest successful scheduled job named one of ``names`` that ran
    ``notebook``; None when there is none (yet) within the bounds."""
    folder = output_folder(notebook)
    walk = JobWalk(client, lambda job: job.name in names and job.pipeline_source == "schedule",
                   max_jobs)
    probed = 0
    try:
        for job in walk:
            probed += 1
            found = _read(client, job, folder)
            if found is not None:
                logger.info("scored input %s: scheduled job %s of pipeline %s",
                            found.path, job.id, job.pipeline_id)
                return found
            if probed >= max_probes:
                break
    except GitLabError as e:
        if not default_branch:
            raise
        logger.warning("cannot list the project's jobs (%s); reading the latest successful "
                       "pipeline of %s instead", e, default_branch)
        return _by_ref(client, default_branch, folder, names)
    logger.info("no scored input of %s: looked at %d successful jobs and %d scheduled ones",
                notebook, walk.seen, probed)
    return None


def local_scored_input(results_dir: Path, notebook: str) -> ScheduledInput | None:
    """The input the last run of ``notebook`` on this machine kept (``ds-runner run``)."""
    folder = results_dir.joinpath(*PurePosixPath(notebook_stem(notebook)).parts)
    metrics = folder / METRICS_FILE
    path = scored_input_path(metrics.read_bytes(), folder.as_posix()) if metrics.is_file() \
        else None
    if path is None or not Path(path).is_file():
        return None
    return ScheduledInput(Path(path).read_bytes(), path,
                          where=f"the last run of {notebook} on this machine")
