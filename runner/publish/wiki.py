"""``ds-runner wiki``: add this run's rows to the notebook pages and the index, safely.

The project wiki is a shared :class:`~runner.pages.PageStore`: ``runner.pages`` merges, archives,
masks and re-checks each write, since GitLab's wiki API has no compare-and-swap and another
pipeline may write the same page. A create that loses a race gets 400 "already exists" and is
retried as an update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.gitlab_client import GitLabClient
from runner.pages import RunLog
from runner.publish.ci import CiEnv
from runner.runs import load_runs
from runner.wiki import MAX_ROWS, Layout, UrlFor, wiki_url_for


@dataclass(frozen=True)
class WikiStore:
    """The project wiki's pages; links are absolute wiki URLs."""

    client: GitLabClient
    url_for: UrlFor

    @property
    def shared(self) -> bool:
        return not self.client.dry_run     # a dry run writes nothing, so there is nothing to check

    def read(self, slug: str) -> str | None:
        page = self.client.wiki_get(slug)
        return page.content if page else None

    def create(self, slug: str, content: str) -> bool:
        return self.client.wiki_create(slug, content)

    def update(self, slug: str, content: str) -> None:
        self.client.wiki_update(slug, content)

    def urls(self, slug: str) -> UrlFor:
        return self.url_for


def publish_wiki(env: CiEnv, results_dir: Path, *, prefix: str = "ds-pipeline",
                 max_rows: int = MAX_ROWS, dry_run: bool = False,
                 echo: Callable[[str], None] = print, settle_s: float = 2.0) -> int:
    """Record every result under ``results_dir`` in the wiki; returns 0."""
    runs = load_runs(results_dir)
    client = env.client("wiki", dry_run=dry_run, echo=echo)
    base = env.web_url("wikis")
    store = WikiStore(client, wiki_url_for(base) if base else (lambda slug: f"/{slug}"))
    log = RunLog(store, env.masker(), Layout(prefix), max_rows=max_rows, settle_s=settle_s)
    for page in log.record([run.result for run in runs], env.run_context()):
        if not page.archive:
            echo(f"{'would write' if dry_run else 'wrote'} wiki page {page.slug}")
    return 0
