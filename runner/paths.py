"""Where things are: the output folder, which files are notebooks, a notebook's path without
``.ipynb``, and the rule that a notebook lies inside the repository, also once symbolic links are
followed.

``detect`` and ``execute`` share that rule and its message: ``execute`` follows links on the
file system (``Path.resolve``), ``detect`` follows them in the commit it reads (``real_path`` with
a ``readlink`` that asks git), so a link that leads outside is refused before a job starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from runner.errors import UsageError

OUTPUT_DIR = ".ds-runner"              # results, reports and the local MLflow store, per repository
NOTEBOOK_GLOB = "notebooks/**/*.ipynb"  # which files are notebooks unless --glob says otherwise
NOTEBOOK_SUFFIX = ".ipynb"
MAX_LINKS = 40  # Linux's limit on symbolic links followed in one path lookup
Readlink = Callable[[str], "str | None"]  # repository path -> link target, None if not a link


def notebook_stem(notebook: str) -> str:
    """``notebooks/train.ipynb`` -> ``notebooks/train``; other paths as they are."""
    return notebook.removesuffix(NOTEBOOK_SUFFIX)


def outside_repository(shown: str, repo: Path, location: Path, linked: bool) -> UsageError:
    """The error for a notebook that is (``linked``: a symbolic link that leads) outside."""
    if linked:
        return UsageError(f"{shown}: is a symbolic link to {location}, outside the repository "
                          f"{repo}")
    return UsageError(f"{shown}: is outside the repository {repo} (see --repo)")


def real_path(repo: Path, path: str, readlink: Readlink) -> str:
    """The repository path that ``path`` (relative, normalised) names once every symbolic link
    on the way is followed, as the operating system follows them. Links leaving the repository
    raise ``outside_repository``; absolute targets are resolved on this machine."""
    root = repo.resolve()
    done: list[str] = []
    pending = path.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                escaped = Path(os.path.realpath(os.path.join(root, "..", *pending)))
                raise outside_repository(path, root, escaped, linked=True)
            done.pop()
            continue
        target = readlink("/".join([*done, part]))
        if target is None:
            done.append(part)
            continue
        hops += 1
        if hops > MAX_LINKS:
            raise UsageError(f"{path}: too many levels of symbolic links")
        if os.path.isabs(target):
            location = Path(os.path.realpath(os.path.join(target, *pending)))
            if not location.is_relative_to(root):
                raise outside_repository(path, root, location, linked=True)
            done, pending = [], list(location.relative_to(root).parts)
            continue
        pending = [*target.split("/"), *pending]
    return "/".join(done)
