"""``ds-runner collect``: bring a child pipeline's notebook results into this (parent) job.

GitLab gives a parent pipeline no artifacts of its child pipeline's jobs, so in parallel mode the
parent's comment, wiki and release jobs would find no ``metrics.json``. This follows the parent
pipeline's trigger jobs (bridges) to their downstream pipelines, downloads the artifacts archive
of every job there that has one (failed jobs too), and extracts only the ``.ds-runner/`` part
into the results directory. It is all or nothing: archives are extracted into a staging folder
that is merged into the results directory only when every download and check passed.
"""

from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from runner.errors import MissingContextError, MissingTokenError, RunnerError
from runner.gitlab_client import Bridge, GitLabClient, PipelineJob
from runner.metrics import METRICS_FILE, RunResult
from runner.paths import OUTPUT_DIR
from runner.publish import Outcome
from runner.publish.ci import CiEnv

logger = logging.getLogger(__name__)

MB = 1024 * 1024
DEFAULT_MAX_ARCHIVE_MB = 1024  # GitLab.com's own artifact limit is 1 GB
EXPAND_FACTOR = 4              # extracted bytes allowed per archive byte limit (zip bombs)
MAX_ENTRIES = 20_000
WHY_TOKEN = ("GitLab does not accept CI_JOB_TOKEN for listing a pipeline's trigger jobs and "
             "jobs, which parallel mode needs to find the child pipeline's results")


@dataclass(frozen=True)
class Limits:
    archive_bytes: int = DEFAULT_MAX_ARCHIVE_MB * MB
    entries: int = MAX_ENTRIES

    @property
    def extracted_bytes(self) -> int:
        return self.archive_bytes * EXPAND_FACTOR


@dataclass
class Extracted:
    job: PipelineJob
    files: list[str] = field(default_factory=list)   # paths relative to the results dir


def safe_member(name: str) -> PurePosixPath | None:
    """The path of a zip entry under ``.ds-runner/``, relative to it; None for entries outside
    it. An absolute path, a drive, a backslash or a ``..`` part raises: such an archive is not
    what a GitLab runner writes, and nothing of it is extracted."""
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":") \
            or ".." in name.split("/") or "\x00" in name:
        raise RunnerError(f"unsafe entry {name!r} in an artifacts archive (absolute path or "
                          "'..'): refusing to extract that archive")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) < 2 or parts[0] != OUTPUT_DIR:
        return None
    return PurePosixPath(*parts[1:])


def extract(archive: Path, dest: Path, job: PipelineJob, limits: Limits) -> Extracted:
    """Extract the ``.ds-runner/`` entries of one archive into ``dest`` (checked first)."""
    done = Extracted(job)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e:
        raise RunnerError(f"the artifacts of job {job.id} ({job.name}) are not a zip archive: "
                          f"{e}") from e
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.entries:
            raise RunnerError(f"the artifacts of job {job.id} have {len(infos)} entries, more "
                              f"than the limit of {limits.entries}")
        wanted = []
        for info in infos:
            rel = safe_member(info.filename)   # every entry is checked, not only ours
            mode = info.external_attr >> 16
            if rel is None or info.is_dir():
                continue
            if stat.S_ISLNK(mode):
                logger.warning("job %s: skipping symbolic link %s", job.id, info.filename)
                continue
            wanted.append((info, rel))
        budget = limits.extracted_bytes
        root = dest.resolve()
        for info, rel in wanted:
            target = dest / rel
            if not target.resolve().is_relative_to(root):   # belt and braces
                raise RunnerError(f"unsafe entry {info.filename!r} in job {job.id}'s artifacts")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 16):   # count real bytes: headers can lie
                    budget -= len(chunk)
                    if budget < 0:
                        raise RunnerError(
                            f"the artifacts of job {job.id} expand to more than "
                            f"{limits.extracted_bytes // MB} MB: refusing to extract them")
                    out.write(chunk)
            done.files.append(rel.as_posix())
    return done


def _children(client: GitLabClient, env: CiEnv, trigger_job: str, out: Outcome) -> list[Bridge]:
    bridges = client.pipeline_bridges(int(env.pipeline_id))
    if trigger_job:
        bridges = [b for b in bridges if b.name == trigger_job]
    latest: dict[str, Bridge] = {}
    for b in bridges:                      # a retried trigger job: its newest run counts
        if b.name not in latest or b.id > latest[b.name].id:
            latest[b.name] = b
    found = []
    for b in sorted(latest.values(), key=lambda b: b.id):
        if b.downstream_id is None:
            out.say(f"trigger job {b.name} ({b.status}) started no pipeline: nothing to collect "
                     "from it")
        elif b.downstream_project_id is not None and env.project.isdigit() \
                and b.downstream_project_id != int(env.project):
            out.say(f"trigger job {b.name} started pipeline {b.downstream_id} in another project "
                     f"({b.downstream_project_id}): not a child pipeline, skipped")
        else:
            found.append(b)
    return found


def _notebook_lines(staging: Path, extracted: list[Extracted]) -> list[str]:
    lines = []
    for part in extracted:
        metrics = [f for f in part.files if PurePosixPath(f).name == METRICS_FILE]
        if not metrics:
            lines.append(f"job {part.job.id} {part.job.name} ({part.job.status}): no "
                         f"{METRICS_FILE} in its {OUTPUT_DIR}/ artifacts ({len(part.files)} files)")
        for rel in sorted(metrics):
            try:
                result = RunResult.read(staging / rel)
                what = f"{result.notebook} ({result.status})"
            except (OSError, ValueError, TypeError, KeyError) as e:
                what = f"{rel} (unreadable: {e})"
            lines.append(f"collected {what} from job {part.job.id} {part.job.name} "
                         f"({part.job.status}, {len(part.files)} files)")
    return lines


def collect(env: CiEnv, results_dir: Path, *, trigger_job: str = "", dry_run: bool = False,
            limits: Limits | None = None) -> Outcome:
    """Download the child pipelines' ``.ds-runner/`` results into ``results_dir``; nothing to do
    also when this pipeline triggered none (sequential mode)."""
    out = Outcome()
    with out.stopping():
        _collect(env, results_dir, trigger_job, dry_run, limits or Limits(), out)
    return out


def _collect(env: CiEnv, results_dir: Path, trigger_job: str, dry_run: bool, limits: Limits,
             out: Outcome) -> None:
    if not env.token:
        raise MissingTokenError(f"ds-runner collect: GITLAB_TOKEN is not set and {WHY_TOKEN}; "
                                "set GITLAB_TOKEN (project access token, Reporter role or "
                                "higher, read_api scope) to use execution_mode: parallel")
    if not env.pipeline_id.isdigit():
        raise MissingContextError("ds-runner collect: no pipeline; set CI_PIPELINE_ID or pass "
                                  "--pipeline-id")
    client = env.client("collect", dry_run=dry_run, echo=out.say)
    children = _children(client, env, trigger_job, out)
    if not children:
        which = f"no trigger job {trigger_job!r}" if trigger_job else "no trigger job"
        out.say(f"pipeline {env.pipeline_id} has {which} with a child pipeline: nothing to "
                 "collect (sequential mode)")
        return
    jobs: list[PipelineJob] = []
    for bridge in children:
        listed = client.pipeline_jobs(bridge.downstream_id or 0)
        with_archive = [j for j in listed if j.archive_size is not None]
        out.say(f"child pipeline {bridge.downstream_id} ({bridge.downstream_status}) of "
                 f"{bridge.name}: {len(listed)} job(s), {len(with_archive)} with artifacts")
        jobs.extend(sorted(with_archive, key=lambda j: j.id))
    for job in jobs:
        if (job.archive_size or 0) > limits.archive_bytes:
            raise RunnerError(f"the artifacts of job {job.id} ({job.name}) are "
                              f"{job.archive_size} bytes, over the limit of "
                              f"{limits.archive_bytes // MB} MB (--max-archive-mb)")
    if dry_run:
        for job in jobs:
            out.say(f"[dry-run] would download the artifacts of job {job.id} {job.name} "
                     f"({job.status}, {job.archive_size} bytes) and extract {OUTPUT_DIR}/ into "
                     f"{results_dir}")
        return
    if not jobs:
        out.say("no job of the child pipeline(s) has artifacts: nothing to collect")
        return
    results_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=results_dir.parent) as tmp:
        staging, archive = Path(tmp) / "results", Path(tmp) / "artifacts.zip"
        staging.mkdir()
        extracted = []
        for job in jobs:
            with open(archive, "w+b") as sink:
                client.job_artifacts(job.id, sink, max_bytes=limits.archive_bytes)
            extracted.append(extract(archive, staging, job, limits))
        lines = _notebook_lines(staging, extracted)
        shutil.copytree(staging, results_dir, dirs_exist_ok=True)
    for line in lines:
        out.say(line)
    count = sum(line.startswith("collected ") for line in lines)
    out.say(f"{count} notebook result(s) collected into {results_dir}")
