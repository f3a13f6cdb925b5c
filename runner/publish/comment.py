"""``ds-runner comment``: create or update the one metrics note of a merge request."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.gitlab_client import GitLabClient, MergeRequest, Note
from runner.publish import Outcome
from runner.publish.baseline import (
    DEFAULT_BASELINE_JOB,
    DEFAULT_TAG_REGEX,
    production_baseline,
    target_baseline,
)
from runner.publish.ci import CiEnv
from runner.report.comment_body import MARKER, parse_history, render_comment
from runner.report.render import NotebookReport, RunContext, job_url_of
from runner.report.runs import Compared, Links, LocalRun

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


@dataclass
class CommentSink:
    """The merge request's one metrics note: each run compared with the target branch's newest
    successful run and the latest production release, figures uploaded to the project."""

    env: CiEnv
    baseline_job: str = DEFAULT_BASELINE_JOB
    tag_regex: str = DEFAULT_TAG_REGEX
    dry_run: bool = False
    client: GitLabClient = field(init=False)
    mr: MergeRequest = field(init=False)
    ctx: RunContext = field(init=False)
    production: dict[str, dict[str, float]] | None = field(init=False)

    def check(self) -> str:
        return ""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        self.client = self.env.client("comment", dry_run=self.dry_run, echo=out.say)
        mr = _merge_request(self.client, self.env)
        if mr is None:
            out.say(f"no open merge request for commit {self.env.commit_sha[:8] or '(unknown)'}"
                    ": nothing to comment on")
            return False
        self.mr = mr
        prod_tag, self.production = production_baseline(self.client, self.tag_regex)
        self.ctx = self.env.run_context()
        self.ctx.target_label = self.env.target_branch or mr.target_branch
        self.ctx.production_label = prod_tag
        return True

    def compare(self, run: LocalRun) -> Compared:
        base = target_baseline(self.client, run, self.ctx.target_label, self.baseline_job)
        production = self.production.get(run.result.notebook) if self.production else None
        return Compared(base.metrics, base.origin, production)

    def links(self, run: LocalRun) -> Links:
        job_url = job_url_of(run.result, self.ctx)
        return Links(_upload_figures(self.client, run),
                     {name: f"{job_url.rstrip('/')}/artifacts/file/{run.artifact_dir}/{path}"
                      for name, path in run.result.artifacts.items() if job_url})

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        client, mr = self.client, self.mr
        existing = find_own_note(client, mr.iid, client.current_user_id())
        body = self.env.masker().mask(
            render_comment(reports, self.ctx, parse_history(existing.body) if existing else []))
        if existing is not None:
            client.update_mr_note(mr.iid, existing.id, body)
            out.say(f"{'would update' if self.dry_run else 'updated'} note {existing.id} "
                    f"on !{mr.iid}")
        else:
            note_id = client.create_mr_note(mr.iid, body, marker=MARKER)
            out.say(f"{'would create' if self.dry_run else 'created'} note "
                    f"{note_id if note_id is not None else ''} on !{mr.iid}".replace("  ", " "))
