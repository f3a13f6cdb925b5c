"""Real throwaway git repositories for detect tests, independent of the machine's git config."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
}
ZERO_SHA = "0" * 40


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CI_"))}
    return {**env, **GIT_ENV}


def notebook_json(tag: str) -> str:
    """A minimal valid notebook whose content depends on ``tag`` (enough that git's rename
    detection does not pair two different notebooks)."""
    noise = [f"# {hashlib.sha256(f'{tag}{i}'.encode()).hexdigest()}\n" for i in range(20)]
    source = [f"x = {tag!r}\n", *noise]
    return json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "id": "c1",
                                  "metadata": {}, "outputs": [], "source": source}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


class Repo:
    """A git repository in ``path`` with helpers that commit files and return SHAs."""

    def __init__(self, path: Path, init: bool = True) -> None:
        self.path = path
        if init:
            path.mkdir(parents=True, exist_ok=True)
            self.git("-c", "init.defaultBranch=main", "init", "-q")

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", "-C", str(self.path), *args], capture_output=True,
                              text=True, env=git_env(), check=False)
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    def write(self, files: Mapping[str, str | None]) -> None:
        """Write (or with ``None``, delete) files; ``*.ipynb`` content is made a notebook."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                self.git("rm", "-q", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            text = notebook_json(content) if name.endswith(".ipynb") else content
            target.write_text(text, encoding="utf-8")
            self.git("add", "--", name)

    def commit(self, message: str = "change", files: Mapping[str, str | None] | None = None,
               renames: Iterable[tuple[str, str]] = ()) -> str:
        self.write(files or {})
        for old, new in renames:
            (self.path / new).parent.mkdir(parents=True, exist_ok=True)
            self.git("mv", "--", old, new)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, ref: str) -> None:
        self.git("checkout", "-q", ref)


def clone(source: Repo, dest: Path, *extra: str) -> Repo:
    """``git clone`` (e.g. ``--depth 1``); file:// so that --depth is honoured."""
    subprocess.run(["git", "clone", "-q", *extra, f"file://{source.path}", str(dest)],
                   capture_output=True, env=git_env(), check=True)
    return Repo(dest, init=False)


FIXTURE_NOTEBOOKS = Path(__file__).resolve().parent / "fixtures" / "notebooks"


def notebook_repo(root: Path, *, commit: bool = True) -> Path:
    """A git repository at ``root`` holding the purpose-named fixture notebooks under
    ``notebooks/`` and a training config; committed unless ``commit`` is false."""
    shutil.copytree(FIXTURE_NOTEBOOKS, root / "notebooks")
    (root / "training_config.yaml").write_text("outcome: target\n", encoding="utf-8")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    if commit:
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "fixtures"], check=True)
    return root
