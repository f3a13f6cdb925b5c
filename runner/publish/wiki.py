"""``ds-runner wiki``: add this run's rows to the notebook pages and the index, safely.

The project wiki is a shared :class:`~runner.report.pages.PageStore`: ``runner.report.pages``
merges, archives, masks and re-checks each write, since GitLab's wiki API has no compare-and-swap
and another pipeline may write the same page. A create that loses a race gets 400 "already exists"
and is retried as an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runner.gitlab_client import GitLabClient
from runner.publish import Outcome
from runner.publish.ci import CiEnv
from runner.report.pages import RunLog
from runner.report.render import NotebookReport
from runner.report.runs import Compared, Links, LocalRun
from runner.report.wiki_pages import MAX_ROWS, Layout, UrlFor, wiki_url_for


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


@dataclass
class WikiSink:
    """The project wiki's run log: a row per run on its notebook's page and in the index."""

    env: CiEnv
    prefix: str = "ds-pipeline"
    max_rows: int = MAX_ROWS
    settle_s: float = 2.0
    dry_run: bool = False
    log: RunLog = field(init=False)

    def check(self) -> str:
        return ""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        client = self.env.client("wiki", dry_run=self.dry_run, echo=out.say)
        base = self.env.web_url("wikis")
        store = WikiStore(client, wiki_url_for(base) if base else (lambda slug: f"/{slug}"))
        self.log = RunLog(store, self.env.masker(), Layout(self.prefix), max_rows=self.max_rows,
                          settle_s=self.settle_s)
        return True

    def compare(self, run: LocalRun) -> Compared:
        return Compared()           # the run log shows each run's own metrics

    def links(self, run: LocalRun) -> Links:
        return Links()

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        for page in self.log.record([r.result for r in reports], self.env.run_context()):
            if not page.archive:
                out.say(f"{'would write' if self.dry_run else 'wrote'} wiki page {page.slug}")
