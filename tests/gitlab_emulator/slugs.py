"""GitLab's wiki slug rules (app/models/wiki.rb `sluggified_title`, wiki_page.rb)."""

from __future__ import annotations

import posixpath
import re


def squish_title(title: str) -> str:
    """`deep_title_squish`: '  foo  /  bar  / page  name' -> 'foo/bar/page name'."""
    return "/".join(re.sub(r"\s+", " ", part).strip() for part in title.split("/"))


def sluggify(title: str) -> str:
    """`File.expand_path(title, '/')` made relative, then spaces -> hyphens; case is kept."""
    path = posixpath.normpath("/" + squish_title(title)).lstrip("/")
    return path.replace(" ", "-")


def wiki_title(slug: str) -> str:
    """The title GitLab reports: the page's file name, hyphen runs shown as spaces."""
    return re.sub(r"-+", " ", slug.rsplit("/", 1)[-1])


def directory(slug: str) -> str:
    return slug.rsplit("/", 1)[0] if "/" in slug else ""
