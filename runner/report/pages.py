"""The run log's pages in a :class:`PageStore` (a GitLab wiki, a local folder): one writer for
both, so merging, archiving and masking happen in one place.

A store has no compare-and-swap, so each write is a merge: read the page, add our rows to the
rows found, write. A *shared* store (the GitLab wiki) may be written by another pipeline in
between, so the writer then waits a moment, reads again and checks that our rows survived; if
not, it merges and writes again. A create that loses a race is retried as an update. Rows past
the bound move to the notebook's archive page first (a crash in between duplicates, never loses).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from runner.errors import GitLabError
from runner.masking import Masker
from runner.metrics import RunResult
from runner.report.render import RunContext
from runner.report.wiki_pages import (
    MAX_ROWS,
    Layout,
    Row,
    UrlFor,
    index_row,
    merge_rows,
    parse_rows,
    relative_url_for,
    render_archive,
    render_index,
    render_page,
    run_row,
    split_rows,
)

logger = logging.getLogger(__name__)


class PageStore(Protocol):
    """Markdown pages by slug (``ds-pipeline/notebooks/train``)."""

    @property
    def shared(self) -> bool: ...     # others may write between our read and write

    def read(self, slug: str) -> str | None: ...

    def create(self, slug: str, content: str) -> bool: ...    # False: it exists already

    def update(self, slug: str, content: str) -> None: ...

    def urls(self, slug: str) -> UrlFor: ...     # link targets as seen from page ``slug``


@dataclass(frozen=True)
class FolderStore:
    """Pages as ``<folder>/<slug>.md`` files, linked to each other by relative paths."""

    folder: Path
    shared: bool = False

    def path(self, slug: str) -> Path:
        return self.folder / f"{slug}.md"

    def read(self, slug: str) -> str | None:
        path = self.path(slug)
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def create(self, slug: str, content: str) -> bool:
        self.update(slug, content)
        return True

    def update(self, slug: str, content: str) -> None:
        path = self.path(slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")

    def urls(self, slug: str) -> UrlFor:
        return relative_url_for(slug)


@dataclass(frozen=True)
class Written:
    slug: str
    archive: bool = False


@dataclass
class RunLog:
    """Writes runs into a store's pages; every page is masked on its way out."""

    store: PageStore
    masker: Masker
    layout: Layout
    max_rows: int = MAX_ROWS
    settle_s: float = 2.0        # wait before re-reading a shared page to detect a lost update
    attempts: int = 8

    def record(self, results: Sequence[RunResult], ctx: RunContext) -> list[Written]:
        """Each run's row on its notebook's page, then every notebook's row in the index."""
        layout, written = self.layout, []
        for result in results:
            nb = result.notebook
            slug, archive = layout.page(nb), layout.archive(nb)

            def move(old: list[Row], nb: str = nb, archive: str = archive) -> None:
                url_for = self.store.urls(archive)
                self.upsert(archive, old, lambda rows: render_archive(nb, rows, layout, url_for))
                written.append(Written(archive, archive=True))

            def page(rows: list[Row], nb: str = nb, slug: str = slug) -> str:
                return render_page(nb, rows, layout, self.store.urls(slug), self.max_rows)

            self.upsert(slug, [run_row(result, ctx)], page, max_rows=self.max_rows,
                        overflow=move)
            written.append(Written(slug))
        url_for = self.store.urls(layout.index)
        self.upsert(layout.index, [index_row(r, ctx, layout, url_for) for r in results],
                    render_index, newest_first=False)
        return [*written, Written(layout.index)]

    def upsert(self, slug: str, new: list[Row], render: Callable[[list[Row]], str], *,
               newest_first: bool = True, max_rows: int | None = None,
               overflow: Callable[[list[Row]], None] | None = None) -> None:
        for attempt in range(1, self.attempts + 1):
            content = self.store.read(slug)
            rows = merge_rows(parse_rows(content or ""), new, newest_first)
            keep, old = split_rows(rows, max_rows) if max_rows else (rows, [])
            if old and overflow is not None:
                overflow(old)
            text = self.masker.mask(render(keep))
            if content is None:
                if not self.store.create(slug, text):
                    logger.info("wiki page %s was created concurrently; merging", slug)
                    continue
            elif content != text:
                self.store.update(slug, text)
            if not self.store.shared:
                return
            time.sleep(self.settle_s * (0.5 + random.random()))
            wanted = {r.key for r in new} & {r.key for r in keep}
            have = {r.key for r in parse_rows(self.store.read(slug) or "")}
            if wanted <= have:
                return
            logger.info("wiki page %s lost our rows to a concurrent write (attempt %d); "
                        "merging again", slug, attempt)
        # Only a shared store loses rows, and the only shared store is the GitLab wiki.
        raise GitLabError(f"update wiki page {slug}: our rows kept disappearing after "
                          f"{self.attempts} attempts (too many concurrent writers); re-run the "
                          "job to add them")
