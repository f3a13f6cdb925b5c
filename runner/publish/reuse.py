"""Never train the same commit twice: find an earlier successful run of a notebook with the same
content key on any pipeline of the same commit, so a tag pipeline reuses it.

The search is the target-branch baseline's (runner.publish.baseline): the project's successful
jobs newest first (``GET /projects/:id/jobs?scope[]=success``, child-pipeline jobs included),
kept when the job ran the tag's commit (``job.sha``) under a name the notebook runs as, has an
artifacts archive and its pipeline neither failed nor was canceled; then the notebook's
``metrics.json`` is read by job id (``GET /projects/:id/jobs/:job_id/artifacts/*path``) and the
job is reused only when that run succeeded and its ``info.content_key`` equals the key of the
commit now. Both bounds of the baseline search hold. Any doubt (no token, an API error, an
unreadable file) means no reuse: the pipeline trains.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.detect.changes import Detection
from runner.detect.childpipeline import job_name as child_job_name
from runner.detect.childpipeline import output_folder
from runner.detect.contentkey import INFO_KEY, content_key
from runner.detect.directives import parse
from runner.errors import GitLabError, UsageError
from runner.gitlab_client import GitLabClient, ProjectJob
from runner.metrics import METRICS_FILE, RunResult
from runner.publish.baseline import MAX_JOBS, MAX_PROBES, JobWalk
from runner.publish.ci import CiEnv

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reused:
    """The earlier job whose results a notebook reuses (an entry of detect.json's ``reused``)."""

    notebook: str
    content_key: str
    job_id: int
    job_name: str
    job_url: str
    pipeline_id: int
    pipeline_url: str
    ref: str

    def as_dict(self) -> dict[str, Any]:
        return {"notebook": self.notebook, "content_key": self.content_key,
                "job_id": self.job_id, "job_name": self.job_name, "job_url": self.job_url,
                "pipeline_id": self.pipeline_id, "pipeline_url": self.pipeline_url,
                "ref": self.ref}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reused:
        return cls(str(data["notebook"]), str(data.get("content_key", "")), int(data["job_id"]),
                   str(data.get("job_name", "")), str(data.get("job_url", "")),
                   int(data.get("pipeline_id") or 0), str(data.get("pipeline_url", "")),
                   str(data.get("ref", "")))


def job_names(notebook: str, sequential_job: str) -> list[str]:
    """The names a notebook runs as: the sequential-mode job and the child job
    ``execute:<path without .ipynb>``."""
    return list(dict.fromkeys(n for n in (sequential_job, child_job_name(notebook)) if n))


def metrics_path(notebook: str) -> str:
    return f"{output_folder(notebook)}{METRICS_FILE}"


def _matches(client: GitLabClient, job: ProjectJob, notebook: str, key: str) -> bool:
    """Whether the job's run of ``notebook`` succeeded with content key ``key``."""
    try:
        data = client.job_artifact_file(job.id, metrics_path(notebook))
    except GitLabError as e:
        logger.warning("reuse: skipping job %s: %s", job.id, e)
        return False
    if data is None:
        return False
    try:
        result = RunResult.from_dict(json.loads(data))
    except (ValueError, TypeError, KeyError) as e:
        logger.warning("reuse: unreadable %s of job %s: %s", metrics_path(notebook), job.id, e)
        return False
    recorded = result.info.get(INFO_KEY, "")
    if result.notebook != notebook or result.status != "success" or recorded != key:
        logger.info("reuse: job %s (%s, pipeline %s) ran %s: %s, content key %s, not %s",
                    job.id, job.name, job.pipeline_id, notebook, result.status,
                    recorded[:16] or "none", key[:16])
        return False
    return True


def find_reusable(client: GitLabClient, sha: str, keys: Mapping[str, str], sequential_job: str,
                  *, exclude_pipeline: int = 0, max_jobs: int = MAX_JOBS,
                  max_probes: int = MAX_PROBES) -> dict[str, Reused]:
    """For each notebook of ``keys`` (notebook -> content key), the newest successful job on
    commit ``sha`` that ran it with that key; notebooks without one are left out."""
    names = {nb: job_names(nb, sequential_job) for nb in keys}
    found: dict[str, Reused] = {}
    walk = JobWalk(client, lambda job: job.sha == sha and job.pipeline_id != exclude_pipeline,
                   max_jobs)
    probed = 0
    try:
        for job in walk:
            for notebook, key in keys.items():
                if notebook in found or job.name not in names[notebook]:
                    continue
                probed += 1
                if _matches(client, job, notebook, key):
                    found[notebook] = Reused(notebook, key, job.id, job.name, job.web_url,
                                             job.pipeline_id, job.pipeline_url, job.ref)
                    logger.info("reuse: %s has run on %s in job %s (%s) of pipeline %s "
                                "with the same content key", notebook, sha[:8], job.id,
                                job.name, job.pipeline_id)
            if len(found) == len(keys) or probed >= max_probes:
                break
    except GitLabError as e:
        logger.warning("reuse: cannot list the project's jobs (%s): the notebooks run again", e)
        return {}
    logger.info("reuse: looked at %d successful jobs (newest first) and %d metrics files: %d of "
                "%d notebook(s) reused", walk.seen, probed, len(found), len(keys))
    return found


@dataclass(frozen=True)
class ReuseOptions:
    """``ds-runner detect --reuse``: on (DS_REUSE) unless forced off; the tag message's
    ``[run path]`` directives force those notebooks to run again."""

    enabled: bool = True
    sequential_job: str = "execute-notebook"
    tag_message: str = ""
    image: str = ""
    runner_version: str = ""


def _note(detection: Detection, text: str) -> Detection:
    logger.info("reuse: %s", text)
    return dataclasses.replace(detection, reason=f"{detection.reason}; {text}")


def ci_env_from(environ: Mapping[str, str]) -> CiEnv:
    """The CI context from GitLab's predefined variables (``ds-runner detect`` has no CI
    options of its own)."""
    from runner.publish.options import CI_OPTIONS

    return CiEnv(**{field: environ.get(var, "") for _, var, field, _ in CI_OPTIONS},
                 token=environ.get("GITLAB_TOKEN", ""), job_token=environ.get("CI_JOB_TOKEN", ""))


def apply_reuse(detection: Detection, repo: Path, env: CiEnv, opts: ReuseOptions) -> Detection:
    """In a tag pipeline, drop the notebooks that already ran on this commit with the same
    content key from ``detection.notebooks`` and list them, with their job, in ``reused``."""
    if not env.commit_tag or detection.skip or not detection.notebooks:
        return detection
    if not opts.enabled:
        return _note(detection, "reuse is off (DS_REUSE=false, retrain: true): every notebook "
                                "runs again")
    forced = set(parse(opts.tag_message).paths)
    candidates = [nb for nb in detection.notebooks if nb not in forced]
    if forced:
        detection = _note(detection, f"{len(forced)} notebook(s) forced to run again by [run] "
                                     "in the tag message")
    if not candidates:
        return detection
    if not env.token:
        return _note(detection, "GITLAB_TOKEN is not set and CI_JOB_TOKEN cannot list the "
                                "project's jobs, so earlier runs of this commit were not looked "
                                "for: the notebooks run")
    keys = {nb: content_key(repo, nb, image=opts.image, runner_version=opts.runner_version).key
            for nb in candidates}
    client = env.client("detect", dry_run=False, echo=logger.info)
    found = find_reusable(client, detection.commit_sha, keys, opts.sequential_job,
                          exclude_pipeline=int(env.pipeline_id) if env.pipeline_id.isdigit()
                          else 0)
    if not found:
        return _note(detection, "no earlier successful run of this commit has the same content "
                                "key: the notebooks run")
    jobs = ", ".join(f"{r.notebook} from job {r.job_id}" for r in found.values())
    detection = dataclasses.replace(
        detection, notebooks=[nb for nb in detection.notebooks if nb not in found],
        reused=[r.as_dict() for r in found.values()])
    return _note(detection, f"{len(found)} reused from an earlier run of this commit with the "
                            f"same content key ({jobs})")


def read_reused(detect_file: Path) -> list[Reused]:
    """The ``reused`` entries of a ``ds-runner detect --json`` file."""
    try:
        data = json.loads(detect_file.read_text(encoding="utf-8"))
        return [Reused.from_dict(entry) for entry in data.get("reused") or []]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise UsageError(f"{detect_file}: not a readable `ds-runner detect --json` file: "
                         f"{e}") from e
