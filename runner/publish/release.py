"""``ds-runner release``: a gated GitLab release with a model card, for production tags only."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import quote

from runner.build.promote import ProjectRegistry, release_image
from runner.gitlab_client import GitLabClient
from runner.publish import Outcome
from runner.publish.baseline import (
    DEFAULT_BASELINE_JOB,
    DEFAULT_TAG_REGEX,
    production_baseline,
    production_tags,
)
from runner.publish.ci import CiEnv
from runner.publish.local_release import judge_gates
from runner.publish.registry import Target, ci_target, register_models, say_models
from runner.report.release_notes import RegisteredModel, ReleaseInfo, render_release_notes
from runner.report.render import NotebookReport
from runner.report.runs import Compared, Links, LocalRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFile:
    notebook: str     # "" for --model-file
    path: str         # in the job's artifacts
    job_url: str      # the job that has it, or ""


def model_paths(runs: list[LocalRun], model_file: str) -> list[ModelFile]:
    """Model files: ``--model-file``, else per result ``artifacts.model`` (relative to its
    output folder) or ``info.model_path`` (the copy of that file in the output folder when
    there is one, since the output folder is the job's artifact)."""
    if model_file:
        return [ModelFile("", model_file, "")]
    found = []
    for run in runs:
        nb = run.result.notebook
        rel = run.result.artifacts.get("model")
        recorded = run.result.info.get("model_path", "")
        job_url = run.result.info.get("job_url", "")
        if rel:
            found.append(ModelFile(nb, f"{run.artifact_dir}/{rel}", job_url))
        elif recorded:
            name = PurePosixPath(recorded).name
            in_output = (run.folder / name).is_file()
            found.append(ModelFile(nb, f"{run.artifact_dir}/{name}", job_url) if in_output
                         else ModelFile(nb, recorded, ""))
    return found


def asset_path(text: str) -> str:
    """A ``direct_asset_path`` GitLab accepts (app/models/releases/link.rb FILEPATH_REGEX:
    ``/`` then ``[-.\\w]`` segments, ending in a letter or digit; 128 characters at most)."""
    parts = (re.sub(r"[^\w.-]+", "-", p, flags=re.ASCII) for p in text.split("/"))
    path = "/" + "/".join(p for p in parts if p.strip(".-"))
    return re.sub(r"[^0-9A-Za-z]+$", "", path[:128]) or "/asset"


def unique_links(links: list[dict[str, str]]) -> list[dict[str, str]]:
    """GitLab refuses a release whose links repeat a name, URL or ``direct_asset_path``, also
    among the links of one request ("Links have duplicate values"): drop links whose URL is
    already there and number the rest apart."""
    kept: list[dict[str, str]] = []
    for link in links:
        if any(k["url"] == link["url"] for k in kept):
            continue
        link = dict(link)
        for key, fmt in (("name", "{} ({})"), ("direct_asset_path", "{}-{}")):
            base, n = link[key], 1
            while any(k[key] == link[key] for k in kept):
                n += 1
                link[key] = fmt.format(base, n)
        kept.append(link)
    return kept


def asset_links(env: CiEnv, tag: str, job: str, models: list[ModelFile], image: str
                ) -> list[dict[str, str]]:
    """Model files link to the job that produced them when it is known (in parallel mode a
    child-pipeline job), else to the latest ``job`` artifacts of the tag. Names, URLs and
    paths are unique; a file several notebooks name is linked once."""
    links = []
    for model in models:
        path, job_url = model.path, model.job_url
        url = (f"{job_url.rstrip('/')}/artifacts/raw/{quote(path)}" if job_url else
               env.web_url(f"jobs/artifacts/{quote(tag, safe='')}/raw/{path}?job={quote(job)}"))
        if not url:
            continue
        name = PurePosixPath(path).name
        notebooks = [m.notebook for m in models if m.path == path and m.job_url == job_url
                     and m.notebook]
        links.append({"name": f"Model file {name}" + (f" of {', '.join(notebooks)}"
                                                      if notebooks else ""),
                      "url": url, "direct_asset_path": asset_path(f"models/{path}"),
                      "link_type": "package"})
    if image:
        url = env.web_url("container_registry") or (
            image if re.match(r"https?://", image) else f"https://{image}")
        links.append({"name": f"Container image {image}", "url": url,
                      "direct_asset_path": "/container-image", "link_type": "image"})
    return unique_links(links)


def sync_links(client: GitLabClient, tag: str, wanted: list[dict[str, str]]) -> None:
    """Create missing links, update changed ones; never double them. A link matches by name,
    else by URL (a link an older ds-runner named differently); the one container-image link
    is replaced when the image changes."""
    links = client.release_links(tag)
    for link in wanted:
        have = (next((ln for ln in links if ln.name == link["name"]), None)
                or next((ln for ln in links if ln.url == link["url"]), None))
        if have is None and link["link_type"] == "image":
            have = next((ln for ln in links if ln.link_type == "image"), None)
        if have is None:
            client.release_link_create(tag, link)
        elif (have.name, have.url, have.link_type) != (link["name"], link["url"],
                                                       link["link_type"]) or \
                not have.direct_asset_url.endswith("/downloads" + link["direct_asset_path"]):
            client.release_link_update(tag, have.id, link)


@dataclass
class ReleaseSink:
    """A gated release with a model card, for production tags only: each run compared with the
    latest earlier production release; no release when a gate fails unless ``force``."""

    env: CiEnv
    tag_regex: str = DEFAULT_TAG_REGEX
    image: str = ""
    model_file: str = ""
    baseline_job: str = DEFAULT_BASELINE_JOB
    force: bool = False
    dry_run: bool = False
    registry: ProjectRegistry | None = None     # tags ``image`` as ``:<tag>`` there
    model_target: Target | None = None          # the model registry; None: from the CI env
    client: GitLabClient = field(init=False)
    runs: list[LocalRun] = field(init=False)
    base_tag: str = field(init=False)
    production: dict[str, dict[str, float]] | None = field(init=False)

    def check(self) -> str:
        tag, tag_regex = self.env.commit_tag, self.tag_regex
        matches = bool(tag) and production_tags(tag_regex).search(tag) is not None
        if not tag:
            return ("not a tag pipeline (CI_COMMIT_TAG is empty): releases are made only for "
                    f"production tags matching {tag_regex}; nothing to do")
        if not matches:
            return (f"tag {tag} does not match the production tag pattern {tag_regex}: "
                    "no release (not a production tag)")
        return ""

    def open(self, runs: Sequence[LocalRun], out: Outcome) -> bool:
        self.runs = list(runs)
        self.client = self.env.client("release", dry_run=self.dry_run, echo=out.say,
                                      job_token_ok=True)
        self.base_tag, self.production = production_baseline(
            self.client, self.tag_regex, exclude_tag=self.env.commit_tag)
        return True

    def compare(self, run: LocalRun) -> Compared:
        production = self.production.get(run.result.notebook) if self.production else None
        return Compared(production=production)

    def links(self, run: LocalRun) -> Links:
        return Links()              # the model card links the model files as release assets

    def register(self, out: Outcome) -> dict[str, RegisteredModel]:
        """The released models as versions in the model registry, before the release exists:
        a failure leaves no release behind (runner.publish.registry)."""
        env = self.env
        target = self.model_target or ci_target(
            os.environ, env.api_url or (f"{env.base_url}/api/v4" if env.base_url else ""),
            env.project, env.token)
        models = register_models(self.runs, target, env.commit_tag, env.commit_sha,
                                 dry_run=self.dry_run)
        say_models(models, out.say)
        return models

    def write(self, reports: Sequence[NotebookReport], out: Outcome) -> None:
        env, client, tag = self.env, self.client, self.env.commit_tag
        forced = judge_gates(reports, tag, self.base_tag, self.force, out)
        if self.image and self.registry is not None:   # gates passed: the production image
            promoted = release_image(self.image, tag, self.registry, dry_run=self.dry_run)
            out.say(promoted.message)
            self.image = promoted.image
        info = ReleaseInfo(tag=tag, commit_sha=env.commit_sha,
                           commit_url=env.web_url(f"commit/{env.commit_sha}") if env.commit_sha
                           else "", pipeline_url=env.pipeline_url, image=self.image,
                           baseline_tag=self.base_tag, forced=forced,
                           models=self.register(out))
        notes = env.masker().mask(render_release_notes(reports, info))
        links = asset_links(env, tag, self.baseline_job, model_paths(self.runs, self.model_file),
                            self.image)
        # No tag read: in a tag pipeline CI_COMMIT_TAG proves the tag exists, and the job token
        # may not read tags (GitLab 17.x). GitLab ignores `ref` when the tag exists and creates
        # the tag from it when it does not (app/services/releases/create_service.rb).
        ref = env.commit_sha or None
        if client.release_get(tag) is None and client.release_create(tag, tag, notes, ref, links):
            out.say(f"{'would create' if self.dry_run else 'created'} release {tag}")
            return
        client.release_update(tag, tag, notes)
        sync_links(client, tag, links)
        out.say(f"{'would update' if self.dry_run else 'updated'} existing release {tag}")
