"""``ds-runner wiki``: add this run's rows to the notebook pages and the index, safely.

GitLab's wiki API has no compare-and-swap, so each write is a merge: read the page, add our rows
to the rows found, write, wait a moment, read again and check that our rows survived (another
pipeline may have written a version without them in between); if not, merge and write again. A
create that loses a race gets 400 "already exists" and is retried as an update.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import GitLabError
from runner.gitlab_client import GitLabClient
from runner.masking import Masker
from runner.publish.ci import CiEnv
from runner.publish.inputs import load_runs
from runner.wiki import (
    MAX_ROWS,
    Layout,
    Row,
    UrlFor,
    index_row,
    merge_rows,
    parse_rows,
    render_archive,
    render_index,
    render_page,
    run_row,
    split_rows,
    wiki_url_for,
)

logger = logging.getLogger(__name__)


@dataclass
class Writer:
    client: GitLabClient
    settle_s: float = 2.0        # wait before re-reading to detect a lost update
    attempts: int = 8

    def upsert(self, slug: str, new: list[Row], render: Callable[[list[Row]], str], *,
               newest_first: bool = True, max_rows: int | None = None,
               overflow: Callable[[list[Row]], None] | None = None) -> None:
        for attempt in range(1, self.attempts + 1):
            page = self.client.wiki_get(slug)
            rows = merge_rows(parse_rows(page.content) if page else [], new, newest_first)
            keep, old = split_rows(rows, max_rows) if max_rows else (rows, [])
            if old and overflow is not None:
                overflow(old)        # archive first: a crash in between duplicates, never loses
            content = render(keep)
            if page is None:
                if not self.client.wiki_create(slug, content):
                    logger.info("wiki page %s was created concurrently; merging", slug)
                    continue
            elif page.content != content:
                self.client.wiki_update(slug, content)
            if self.client.dry_run:
                return
            time.sleep(self.settle_s * (0.5 + random.random()))
            wanted = {r.key for r in new} & {r.key for r in keep}
            check = self.client.wiki_get(slug)
            have = {r.key for r in parse_rows(check.content)} if check else set()
            if wanted <= have:
                return
            logger.info("wiki page %s lost our rows to a concurrent write (attempt %d); "
                        "merging again", slug, attempt)
        raise GitLabError(f"update wiki page {slug}: our rows kept disappearing after "
                          f"{self.attempts} attempts (too many concurrent writers); re-run the "
                          "job to add them")


def publish_wiki(env: CiEnv, results_dir: Path, *, prefix: str = "ds-pipeline",
                 max_rows: int = MAX_ROWS, dry_run: bool = False,
                 echo: Callable[[str], None] = print, settle_s: float = 2.0) -> int:
    """Record every result under ``results_dir`` in the wiki; returns 0."""
    runs = load_runs(results_dir)
    client = env.client("wiki", dry_run=dry_run, echo=echo)
    layout = Layout(prefix)
    base = env.web_url("wikis")
    url_for: UrlFor = wiki_url_for(base) if base else (lambda slug: f"/{slug}")
    masker = Masker.from_env([t for t in (env.token, env.job_token) if t])
    ctx = env.run_context()
    writer = Writer(client, settle_s=settle_s)
    for run in runs:
        nb = run.result.notebook
        slug, archive = layout.page(nb), layout.archive(nb)

        def move(old: list[Row], nb: str = nb, archive: str = archive) -> None:
            writer.upsert(archive, old,
                          lambda rows: render_archive(nb, rows, layout, url_for, masker))

        def page(rows: list[Row], nb: str = nb) -> str:
            return render_page(nb, rows, layout, url_for, max_rows, masker)

        writer.upsert(slug, [run_row(run.result, ctx)], page, max_rows=max_rows, overflow=move)
        echo(f"{'would write' if dry_run else 'wrote'} wiki page {slug}")
    writer.upsert(layout.index, [index_row(r.result, ctx, layout, url_for) for r in runs],
                  lambda rows: render_index(rows, masker), newest_first=False)
    echo(f"{'would write' if dry_run else 'wrote'} wiki page {layout.index}")
    return 0
