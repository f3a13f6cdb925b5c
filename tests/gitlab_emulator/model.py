"""Records of the emulated GitLab: users, projects and what lives in a project."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

UTC = dt.timezone.utc


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def iso(value: dt.datetime | None) -> str | None:
    """GitLab's JSON time format: `2024-01-02T03:04:05.678Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class User:
    id: int
    username: str
    name: str
    access_level: int = 40
    bot: bool = False
    created_at: dt.datetime = field(default_factory=now)


@dataclass
class Commit:
    sha: str
    title: str
    message: str
    created_at: dt.datetime = field(default_factory=now)
    author_name: str = "Emulated Author"
    author_email: str = "author@example.com"


@dataclass
class Tag:
    name: str
    target: str
    message: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    source_branch: str
    target_branch: str
    sha: str
    author_id: int | None
    state: str = "opened"
    description: str = ""
    commits: list[str] = field(default_factory=list)
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class Note:
    id: int
    project_id: int
    mr_iid: int
    noteable_id: int
    body: str
    author_id: int
    system: bool = False
    internal: bool = False
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    visible_to: list[str] | None = None


@dataclass
class Upload:
    id: int
    project_id: int
    secret: str
    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class WikiPage:
    slug: str
    title: str
    content: str
    format: str = "markdown"
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class ReleaseLink:
    id: int
    name: str
    url: str
    direct_asset_path: str | None = None
    link_type: str = "other"


@dataclass
class Release:
    tag_name: str
    project_id: int
    name: str
    description: str
    sha: str
    author_id: int | None
    created_at: dt.datetime = field(default_factory=now)
    released_at: dt.datetime = field(default_factory=now)
    milestones: list[str] = field(default_factory=list)
    links: list[ReleaseLink] = field(default_factory=list)


@dataclass
class Pipeline:
    id: int
    iid: int
    project_id: int
    ref: str
    sha: str
    status: str = "success"
    source: str = "push"
    tag: bool = False
    user_id: int | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    variables: list[dict[str, str]] = field(default_factory=list)   # key, value, variable_type


@dataclass
class Job:
    id: int
    project_id: int
    pipeline_id: int
    name: str
    ref: str
    sha: str
    status: str = "success"
    stage: str = "test"
    tag: bool = False
    user_id: int | None = None
    token: str = ""
    artifacts: dict[str, bytes] = field(default_factory=dict)
    created_at: dt.datetime = field(default_factory=now)


@dataclass
class Bridge:
    """A trigger job (`trigger:`): in a pipeline, starting `downstream_id` (None: none yet)."""

    id: int
    project_id: int
    pipeline_id: int
    name: str
    status: str = "success"
    stage: str = "test"
    downstream_id: int | None = None
    user_id: int | None = None
    created_at: dt.datetime = field(default_factory=now)


@dataclass
class MlModelVersion:
    """A version of a registered model (app/models/ml/model_version.rb): ``id`` is the number
    GitLab's MLflow API answers as ``version``, ``version`` the semantic version; every version
    is also a run (its candidate, ``run_id``) whose package holds ``files``."""

    id: int
    model_id: int
    version: str
    run_id: str
    description: str = ""
    metadata: list[dict[str, str]] = field(default_factory=list)   # key, value
    files: dict[str, bytes] = field(default_factory=dict)          # the package's files
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class MlModel:
    """A registered model (app/models/ml/model.rb), with its versions by semantic version."""

    id: int
    name: str
    description: str = ""
    user_id: int | None = None
    experiment_iid: int = 0                        # its experiment ``[model]<name>``
    metadata: list[dict[str, str]] = field(default_factory=list)
    versions: dict[str, MlModelVersion] = field(default_factory=dict)
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class Project:
    id: int
    path_with_namespace: str
    default_branch: str
    visibility: str = "private"
    web_url: str = ""
    # ci_pipeline_variables_minimum_override_role: developer, maintainer, owner, no_one_allowed;
    # developer is the self-managed default, no_one_allowed that of new gitlab.com namespaces
    # (https://docs.gitlab.com/ci/variables/#restrict-pipeline-variables, gitlab-org/gitlab#515794)
    pipeline_variables_role: str = "developer"
    created_at: dt.datetime = field(default_factory=now)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    milestones: list[str] = field(default_factory=list)
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    wiki: dict[str, WikiPage] = field(default_factory=dict)
    releases: dict[str, Release] = field(default_factory=dict)
    pipelines: dict[int, Pipeline] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    bridges: dict[int, Bridge] = field(default_factory=dict)
    ml_models: dict[str, MlModel] = field(default_factory=dict)     # by name

    @property
    def name(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[-1]

    @property
    def namespace(self) -> str:
        return self.path_with_namespace.rsplit("/", 1)[0] if "/" in self.path_with_namespace else ""

    def resolve_ref(self, ref: str) -> str | None:
        """A branch, tag or known commit SHA -> commit SHA (None when unknown)."""
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.tags:
            return self.tags[ref].target
        if ref in self.commits:
            return ref
        matches = [sha for sha in self.commits if len(ref) >= 7 and sha.startswith(ref)]
        return matches[0] if len(matches) == 1 else None
