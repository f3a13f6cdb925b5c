"""Project-wide pytest fixtures: `emulator`, a fresh GitLab API emulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gitlab_emulator import GitLabEmulator


@pytest.fixture
def emulator() -> Iterator[GitLabEmulator]:
    """A started, empty GitLab emulator (docs/testing.md); `emulator.url` is the base URL."""
    emu = GitLabEmulator.start()
    try:
        yield emu
    finally:
        emu.stop()
