"""``ds-runner release``: a gated GitLab release with a model card, for production tags only."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from runner.errors import GateFailedError, UsageError
from runner.gates import format_table
from runner.gitlab_client import GitLabClient
from runner.masking import Masker
from runner.publish.ci import CiEnv
from runner.publish.inputs import LocalRun, load_runs, production_baseline, report_for
from runner.release import ReleaseInfo, render_release_notes

logger = logging.getLogger(__name__)


def model_paths(runs: list[LocalRun], model_file: str) -> list[tuple[str, str]]:
    """(artifact path, URL of the job that has it or "") of model files: ``--model-file``, else
    per result ``artifacts.model`` (relative to its output folder) or ``info.model_path`` (the
    copy of that file in the output folder when there is one, since the output folder is the
    job's artifact)."""
    if model_file:
        return [(model_file, "")]
    paths = []
    for run in runs:
        rel = run.result.artifacts.get("model")
        recorded = run.result.info.get("model_path", "")
        job_url = run.result.info.get("job_url", "")
        if rel:
            paths.append((f"{run.artifact_dir}/{rel}", job_url))
        elif recorded:
            name = PurePosixPath(recorded).name
            in_output = (run.folder / name).is_file()
            paths.append((f"{run.artifact_dir}/{name}", job_url) if in_output
                         else (recorded, ""))
    return paths


def asset_links(env: CiEnv, tag: str, job: str, models: list[tuple[str, str]], image: str
                ) -> list[dict[str, str]]:
    """Model files link to the job that produced them when it is known (in parallel mode a
    child-pipeline job), else to the latest ``job`` artifacts of the tag."""
    links = []
    for path, job_url in models:
        url = (f"{job_url.rstrip('/')}/artifacts/raw/{quote(path)}" if job_url else
               env.web_url(f"jobs/artifacts/{quote(tag, safe='')}/raw/{path}?job={quote(job)}"))
        if url:
            links.append({"name": f"Model file {PurePosixPath(path).name}", "url": url,
                          "link_type": "package"})
    if image:
        url = env.web_url("container_registry") or (
            image if re.match(r"https?://", image) else f"https://{image}")
        links.append({"name": f"Container image {image}", "url": url, "link_type": "image"})
    return links


def sync_links(client: GitLabClient, tag: str, wanted: list[dict[str, str]]) -> None:
    """Create missing links, update changed ones; never double them. Links match by name; the
    one container-image link is replaced when the image changes."""
    links = client.release_links(tag)
    for link in wanted:
        have = next((ln for ln in links if ln.name == link["name"]), None)
        if have is None and link["link_type"] == "image":
            have = next((ln for ln in links if ln.link_type == "image"), None)
        if have is None:
            client.release_link_create(tag, link)
        elif (have.name, have.url, have.link_type) != (link["name"], link["url"],
                                                       link["link_type"]):
            client.release_link_update(tag, have.id, link)


def publish_release(env: CiEnv, results_dir: Path, *, tag_regex: str, image: str = "",
                    model_file: str = "", baseline_job: str = "execute-notebook",
                    force: bool = False, dry_run: bool = False,
                    echo: Callable[[str], None] = print) -> int:
    """Evaluate the gates and create or update the release; 0, or GateFailedError (exit 7)."""
    tag = env.commit_tag
    try:
        matches = bool(tag) and re.search(tag_regex, tag) is not None
    except re.error as e:
        raise UsageError(f"--production-tag-regex {tag_regex!r} is not a valid regex: {e}") from e
    if not tag:
        echo("not a tag pipeline (CI_COMMIT_TAG is empty): releases are made only for "
             f"production tags matching {tag_regex}; nothing to do")
        return 0
    if not matches:
        echo(f"tag {tag} does not match the production tag pattern {tag_regex}: "
             "no release (not a production tag)")
        return 0
    runs = load_runs(results_dir)
    client = env.client("release", dry_run=dry_run, echo=echo, job_token_ok=True)
    base_tag, production = production_baseline(client, tag_regex, exclude_tag=tag)
    reports = [report_for(r, None, (production or {}).get(r.result.notebook)
                          if production else None) for r in runs]
    failed = 0
    for rep in reports:
        echo(format_table(rep.gates, f"validation gates of {rep.notebook} "
                          f"(baseline: {base_tag or 'none yet'}):"))
        failed += sum(not g.passed for g in rep.gates)
    if failed and not force:
        raise GateFailedError(f"{failed} validation gate(s) failed for {tag}: no release created "
                              "(see the gate table above; --force releases anyway)")
    if failed:
        echo(f"WARNING: {failed} validation gate(s) failed; releasing {tag} anyway (--force)")
    info = ReleaseInfo(tag=tag, commit_sha=env.commit_sha,
                       commit_url=env.web_url(f"commit/{env.commit_sha}") if env.commit_sha
                       else "", pipeline_url=env.pipeline_url, image=image,
                       baseline_tag=base_tag, forced=bool(failed))
    masker = Masker.from_env([t for t in (env.token, env.job_token) if t])
    notes = render_release_notes(reports, info, masker)
    links = asset_links(env, tag, baseline_job, model_paths(runs, model_file), image)
    ref = None
    if not client.tag_exists(tag):
        if not env.commit_sha:
            raise UsageError(f"tag {tag} does not exist and CI_COMMIT_SHA is empty: "
                             "cannot create the release")
        ref = env.commit_sha
    if client.release_get(tag) is None and client.release_create(tag, tag, notes, ref, links):
        echo(f"{'would create' if dry_run else 'created'} release {tag}")
        return 0
    client.release_update(tag, tag, notes)
    sync_links(client, tag, links)
    echo(f"{'would update' if dry_run else 'updated'} existing release {tag}")
    return 0
