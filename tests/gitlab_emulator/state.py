"""The emulator's whole state behind one lock, and the seeding operations on it."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
import threading
from collections.abc import Iterable

from .model import (
    Bridge,
    Commit,
    Job,
    MergeRequest,
    Note,
    Pipeline,
    Project,
    Release,
    ReleaseLink,
    Tag,
    User,
    WikiPage,
    now,
    parse_time,
)
from .slugs import sluggify, wiki_title

TimeLike = dt.datetime | str | None


def fake_sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


class State:
    """Users, tokens and projects. Every public method takes the lock (re-entrant)."""

    def __init__(self, base_url: str = "http://127.0.0.1") -> None:
        self.lock = threading.RLock()
        self.base_url = base_url
        self.users: dict[int, User] = {}
        self.tokens: dict[str, int] = {}
        self.projects: dict[int, Project] = {}
        self._ids = {kind: itertools.count(1) for kind in
                     ("user", "project", "mr", "note", "upload", "link", "pipeline", "job",
                      "ml_model", "ml_model_version", "ml_experiment")}

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # ---- look-ups -------------------------------------------------------------------------
    def user_by_name(self, username: str) -> User:
        with self.lock:
            for user in self.users.values():
                if user.username == username:
                    return user
        raise KeyError(f"no user {username!r}")

    def project(self, ref: int | str) -> Project | None:
        with self.lock:
            if isinstance(ref, int) or ref.isdigit():
                return self.projects.get(int(ref))
            for project in self.projects.values():
                if project.path_with_namespace.lower() == ref.lower():
                    return project
            return None

    def must_project(self, ref: int | str) -> Project:
        project = self.project(ref)
        if project is None:
            raise KeyError(f"no project {ref!r}")
        return project

    def job_by_token(self, token: str) -> Job | None:
        with self.lock:
            for project in self.projects.values():
                for job in project.jobs.values():
                    if job.token and secrets.compare_digest(job.token, token):
                        return job
            return None

    # ---- seeding --------------------------------------------------------------------------
    def add_user(self, username: str, tokens: Iterable[str] = (), *, name: str | None = None,
                 access_level: int = 40, bot: bool = False, id: int | None = None) -> User:
        with self.lock:
            user = User(id=id or self.next_id("user"), username=username,
                        name=name or username, access_level=access_level, bot=bot)
            self.users[user.id] = user
            for token in tokens:
                self.tokens[token] = user.id
            return user

    def add_project(self, path: str, *, default_branch: str = "main", visibility: str = "private",
                    sha: str | None = None, id: int | None = None) -> Project:
        with self.lock:
            project = Project(id=id or self.next_id("project"), path_with_namespace=path,
                              default_branch=default_branch, visibility=visibility,
                              web_url=f"{self.base_url}/{path}")
            self.projects[project.id] = project
            self.add_branch(project.id, default_branch, sha or fake_sha(f"{path}:{default_branch}"))
            return project

    def add_commit(self, project_id: int, sha: str, *, title: str | None = None,
                   message: str | None = None, created_at: TimeLike = None) -> Commit:
        with self.lock:
            project = self.must_project(project_id)
            if sha in project.commits:
                return project.commits[sha]
            title = title or f"Commit {sha[:8]}"
            commit = Commit(sha=sha, title=title, message=message or title,
                            created_at=parse_time(created_at) or now())
            project.commits[sha] = commit
            return commit

    def add_branch(self, project_id: int, name: str, sha: str) -> None:
        with self.lock:
            self.add_commit(project_id, sha)
            self.must_project(project_id).branches[name] = sha

    def add_tag(self, project_id: int, name: str, *, ref: str | None = None,
                sha: str | None = None, message: str | None = None,
                created_at: TimeLike = None) -> Tag:
        with self.lock:
            project = self.must_project(project_id)
            target = sha or project.resolve_ref(ref or project.default_branch)
            if target is None:
                raise KeyError(f"unknown ref {ref!r}")
            self.add_commit(project_id, target)
            when = parse_time(created_at)
            tag = Tag(name=name, target=target, message=message,
                      created_at=(when or now()) if message else None)
            project.tags[name] = tag
            return tag

    def add_merge_request(self, project_id: int, *, source_branch: str, target_branch: str = "main",
                          iid: int | None = None, sha: str | None = None,
                          author: User | None = None, state: str = "opened",
                          title: str | None = None, commits: list[str] | None = None,
                          created_at: TimeLike = None) -> MergeRequest:
        with self.lock:
            project = self.must_project(project_id)
            iid = iid or max(project.merge_requests, default=0) + 1
            sha = sha or project.branches.get(source_branch) or fake_sha(f"{project_id}:{iid}")
            self.add_commit(project_id, sha)
            project.branches.setdefault(source_branch, sha)
            when = parse_time(created_at) or now()
            mr = MergeRequest(id=self.next_id("mr"), iid=iid, project_id=project_id,
                              title=title or f"Merge {source_branch}", source_branch=source_branch,
                              target_branch=target_branch, sha=sha,
                              author_id=author.id if author else None, state=state,
                              commits=list(commits or [sha]), created_at=when, updated_at=when)
            project.merge_requests[iid] = mr
            return mr

    def add_note(self, project_id: int, mr_iid: int, body: str, *, author: User,
                 system: bool = False, internal: bool = False, created_at: TimeLike = None,
                 visible_to: Iterable[str] | None = None, id: int | None = None) -> Note:
        with self.lock:
            project = self.must_project(project_id)
            mr = project.merge_requests[mr_iid]
            when = parse_time(created_at) or now()
            note = Note(id=id or self.next_id("note"), project_id=project_id, mr_iid=mr_iid,
                        noteable_id=mr.id, body=body, author_id=author.id, system=system,
                        internal=internal, created_at=when, updated_at=when,
                        visible_to=list(visible_to) if visible_to is not None else None)
            project.notes[note.id] = note
            return note

    def add_wiki_page(self, project_id: int, title: str, content: str,
                      fmt: str = "markdown") -> WikiPage:
        with self.lock:
            slug = sluggify(title)
            page = WikiPage(slug=slug, title=wiki_title(slug), content=content, format=fmt)
            self.must_project(project_id).wiki[slug] = page
            return page

    def add_pipeline(self, project_id: int, *, ref: str, sha: str | None = None,
                     status: str = "success", source: str = "push", tag: bool = False,
                     user: User | None = None, id: int | None = None) -> Pipeline:
        with self.lock:
            project = self.must_project(project_id)
            sha = sha or project.resolve_ref(ref) or fake_sha(f"{project_id}:{ref}")
            self.add_commit(project_id, sha)
            pid = id or self.next_id("pipeline")
            pipeline = Pipeline(id=pid, iid=len(project.pipelines) + 1, project_id=project_id,
                                ref=ref, sha=sha, status=status, source=source,
                                tag=tag or ref in project.tags, user_id=user.id if user else None)
            project.pipelines[pid] = pipeline
            return pipeline

    def add_job(self, project_id: int, *, ref: str, name: str, status: str = "success",
                sha: str | None = None, stage: str = "test",
                artifacts: dict[str, bytes | str] | None = None,
                pipeline: Pipeline | None = None, user: User | None = None,
                token: str | None = None, tag: bool = False, id: int | None = None) -> Job:
        with self.lock:
            if pipeline is None:
                pipeline = self.add_pipeline(project_id, ref=ref, sha=sha, status=status,
                                             tag=tag, user=user)
            data = {path: value.encode() if isinstance(value, str) else value
                    for path, value in (artifacts or {}).items()}
            job = Job(id=id or self.next_id("job"), project_id=project_id,
                      pipeline_id=pipeline.id, name=name, ref=ref, sha=sha or pipeline.sha,
                      status=status, stage=stage, tag=pipeline.tag,
                      user_id=user.id if user else pipeline.user_id,
                      token=token or "glcbt-" + secrets.token_hex(12), artifacts=data)
            self.must_project(project_id).jobs[job.id] = job
            return job

    def add_bridge(self, project_id: int, *, pipeline: Pipeline, name: str,
                   downstream: Pipeline | None = None, status: str | None = None,
                   stage: str = "test", user: User | None = None,
                   id: int | None = None) -> Bridge:
        """A trigger job in `pipeline` that started `downstream` (its id comes from the job
        sequence, as bridges and jobs share GitLab's ci_builds table)."""
        with self.lock:
            project = self.must_project(project_id)
            bridge = Bridge(id=id or self.next_id("job"), project_id=project_id,
                            pipeline_id=pipeline.id, name=name,
                            status=status or (downstream.status if downstream else "failed"),
                            stage=stage, downstream_id=downstream.id if downstream else None,
                            user_id=user.id if user else pipeline.user_id)
            project.bridges[bridge.id] = bridge
            return bridge

    def add_release(self, project_id: int, tag_name: str, *, description: str = "",
                    name: str | None = None, ref: str | None = None,
                    released_at: TimeLike = None, created_at: TimeLike = None,
                    links: Iterable[dict[str, str]] = (), author: User | None = None,
                    milestones: Iterable[str] = ()) -> Release:
        with self.lock:
            project = self.must_project(project_id)
            if tag_name not in project.tags:
                self.add_tag(project_id, tag_name, ref=ref)
            created = parse_time(created_at) or now()
            release = Release(tag_name=tag_name, project_id=project_id, name=name or tag_name,
                              description=description, sha=project.tags[tag_name].target,
                              author_id=author.id if author else None, created_at=created,
                              released_at=parse_time(released_at) or created,
                              milestones=list(milestones))
            for link in links:
                release.links.append(ReleaseLink(
                    id=self.next_id("link"), name=link["name"], url=link["url"],
                    direct_asset_path=link.get("direct_asset_path") or link.get("filepath"),
                    link_type=link.get("link_type", "other")))
            project.releases[tag_name] = release
            return release
