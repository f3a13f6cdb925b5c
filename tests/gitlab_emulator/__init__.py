"""A stateful GitLab REST API v4 emulator for tests (see docs/testing.md)."""

from __future__ import annotations

from .emulator import GitLabEmulator
from .faults import Fault
from .model import (
    Bridge,
    Job,
    MergeRequest,
    Note,
    Pipeline,
    Project,
    Release,
    Tag,
    Upload,
    User,
    WikiPage,
)
from .server import RequestRecord

__all__ = ["Bridge", "Fault", "GitLabEmulator", "Job", "MergeRequest", "Note", "Pipeline",
           "Project", "Release", "RequestRecord", "Tag", "Upload", "User", "WikiPage"]
