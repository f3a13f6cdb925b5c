"""``ds-runner comment``: create or update the one metrics note of a merge request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from runner.comments import MARKER, parse_history, render_comment
from runner.gitlab_client import GitLabClient, MergeRequest, Note
from runner.publish.baseline import production_baseline, target_baseline
from runner.publish.ci import CiEnv
from runner.render import NotebookReport, job_url_of
from runner.runs import LocalRun, load_runs, report_for

logger = logging.getLogger(__name__)


def find_own_note(client: GitLabClient, iid: int, user_id: int) -> Note | None:
    """Our note: the marker, not a system note, written by the token's user. Pages through
    every note (newest first, pages may be short); another user's marked note is ignored."""
    found: Note | None = None
    for note in client.mr_notes(iid):
        if note.system or MARKER not in note.body:
            continue
        if note.author_id != user_id:
            logger.info("note %s has the marker but another author; leaving it alone", note.id)
            continue
        if found is None:
            found = note
        else:
            logger.warning("more than one ds-pipeline note on !%s; updating the newest (%s)",
                           iid, found.id)
    return found


def _merge_request(client: GitLabClient, env: CiEnv) -> MergeRequest | None:
    if env.mr_iid:
        return client.merge_request(int(env.mr_iid))
    if not env.commit_sha:
        return None
    found = client.open_merge_requests_for_commit(env.commit_sha)
    return found[0] if found else None


def _upload_figures(client: GitLabClient, run: LocalRun) -> dict[str, str]:
    urls = {}
    for name, rel in run.result.figures.items():
        path = run.folder / rel
        if not path.is_file():
            logger.warning("figure %s of %s is missing at %s", name, run.result.notebook, path)
            continue
        urls[name] = client.upload(path.name, path.read_bytes())
    return urls


def publish_comment(env: CiEnv, results_dir: Path, *, baseline_job: str, tag_regex: str,
                    dry_run: bool = False, echo: Callable[[str], None] = print) -> int:
    """Write the metrics comment; returns 0 (also when there is no merge request)."""
    runs = load_runs(results_dir)
    client = env.client("comment", dry_run=dry_run, echo=echo)
    mr = _merge_request(client, env)
    if mr is None:
        echo(f"no open merge request for commit {env.commit_sha[:8] or '(unknown)'}: "
             "nothing to comment on")
        return 0
    target = env.target_branch or mr.target_branch
    prod_tag, production = production_baseline(client, tag_regex)
    ctx = env.run_context()
    ctx.target_label, ctx.production_label = target, prod_tag
    reports: list[NotebookReport] = []
    for run in runs:
        base = target_baseline(client, run, target, baseline_job)
        rep = report_for(run, base.metrics,
                         (production or {}).get(run.result.notebook) if production else None)
        rep.target_origin = base.origin
        rep.figure_urls = _upload_figures(client, run)
        job_url = job_url_of(run.result, ctx)
        rep.artifact_urls = {name: f"{job_url.rstrip('/')}/artifacts/file/{run.artifact_dir}/{path}"
                             for name, path in run.result.artifacts.items() if job_url}
        reports.append(rep)
    me = client.current_user_id()
    existing = find_own_note(client, mr.iid, me)
    body = env.masker().mask(
        render_comment(reports, ctx, parse_history(existing.body) if existing else []))
    if existing is not None:
        client.update_mr_note(mr.iid, existing.id, body)
        echo(f"{'would update' if dry_run else 'updated'} note {existing.id} on !{mr.iid}")
    else:
        note_id = client.create_mr_note(mr.iid, body, marker=MARKER)
        echo(f"{'would create' if dry_run else 'created'} note "
             f"{note_id if note_id is not None else ''} on !{mr.iid}".replace("  ", " "))
    return 0
