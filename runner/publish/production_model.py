"""The production model a candidate is compared with: the model of the newest production
release, as version ``<tag without v>`` of the registered model (``runner.models``, where
``ds-runner release`` registers it), else the model file the release links to.

A release's model link (``runner.publish.release.asset_links``) points at a job's artifacts in
one of GitLab's two web forms, ``<project>/-/jobs/<id>/artifacts/raw/<path>`` or
``<project>/-/jobs/artifacts/<ref>/raw/<path>?job=<name>``; the file is read through the
matching API route (``GET /projects/:id/jobs/:job_id/artifacts/*path``, or
``GET /projects/:id/jobs/artifacts/:ref/raw/*path?job=``, ``doc/api/job_artifacts.md``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlparse

from runner.errors import GitLabError, ModelRegistryError, UsageError
from runner.gitlab_client import GitLabClient, ReleaseLink
from runner.models import resolve_model, version_of
from runner.paths import OUTPUT_DIR
from runner.publish.local_release import previous_release
from runner.publish.registry import ci_target, local_target

logger = logging.getLogger(__name__)
_BY_ID = re.compile(r"/-/jobs/(?P<job>\d+)/artifacts/raw/(?P<path>.+)$")
_BY_REF = re.compile(r"/-/jobs/artifacts/(?P<ref>[^/]+)/raw/(?P<path>.+)$")
MODEL_LINK = "Model file "        # how the release names its model links


@dataclass(frozen=True)
class ProductionModel:
    """``path`` None: no production model; ``note`` says why. ``source`` names where it came
    from (``models:/<name>/<version>`` or the release link)."""

    tag: str
    path: Path | None
    source: str = ""
    note: str = ""


def link_location(url: str) -> tuple[int, str, str, str] | None:
    """(job id, path, ref, job name) of a model link: the id for a job's link, ref and name
    for a by-ref one; None for any other URL."""
    parsed = urlparse(url)
    by_id = _BY_ID.search(parsed.path)
    if by_id:
        return int(by_id["job"]), unquote(by_id["path"]), "", ""
    by_ref = _BY_REF.search(parsed.path)
    job = parse_qs(parsed.query).get("job", [""])[0]
    if by_ref and job:
        return 0, unquote(by_ref["path"]), unquote(by_ref["ref"]), job
    return None


def model_link(links: list[ReleaseLink], notebook: str) -> ReleaseLink | None:
    """The release's link to ``notebook``'s model, else its only model link."""
    models = [ln for ln in links if ln.name.startswith(MODEL_LINK)]
    named = [ln for ln in models if notebook in ln.name.partition(" of ")[2].split(", ")]
    if named:
        return named[0]
    return models[0] if len(models) == 1 else None


def from_link(client: GitLabClient, tag: str, notebook: str, dest: Path
              ) -> tuple[Path | None, str]:
    """The model file release ``tag`` links to, downloaded into ``dest``: (path, where)."""
    link = model_link(client.release_links(tag), notebook)
    if link is None:
        return None, f"release {tag} links no model file of {notebook}"
    where = link_location(link.url)
    if where is None:
        return None, f"release {tag}'s link {link.url} is not a job artifact"
    job_id, path, ref, job = where
    data = client.job_artifact_file(job_id, path) if job_id else \
        client.artifact_file(ref, path, job)
    if data is None:
        return None, f"the model file release {tag} links to is gone ({link.url})"
    dest.mkdir(parents=True, exist_ok=True)
    file = dest / PurePosixPath(path).name
    file.write_bytes(data)
    return file, f"release {tag}'s [{PurePosixPath(path).name}]({link.url})"


def from_registry(name: str, tag: str, environ: Mapping[str, str], api_url: str,
                  project: str, token: str) -> tuple[Path | None, str]:
    """Version ``<tag without v>`` of registered model ``name``: (path, URI) or (None, why)."""
    target = ci_target(environ, api_url, project, token)
    if not target.env:
        return None, target.note
    uri = f"models:/{name}/{version_of(tag)}"
    try:
        # a concrete version never falls back, so the fallback path is never read
        resolved = resolve_model(uri, Path(), environ=target.env)
    except (ModelRegistryError, GitLabError, UsageError) as e:
        return None, str(e)
    return resolved.model_file, uri


def production_model(client: GitLabClient, tag: str, notebook: str, registered_name: str,
                     dest: Path, *, api_url: str = "", project: str = "", token: str = "",
                     environ: Mapping[str, str] | None = None) -> ProductionModel:
    """The model of release ``tag``: the registered version, else the linked file."""
    if not tag:
        return ProductionModel("", None, note="no production release yet")
    why = ""
    if registered_name:
        path, found = from_registry(registered_name, tag, os.environ if environ is None
                                    else environ, api_url, project, token)
        if path is not None:
            return ProductionModel(tag, path, found)
        why = f"not from the model registry ({found}); "
        logger.warning("production model %s: %s; trying the release's model link", tag, found)
    path, found = from_link(client, tag, notebook, dest)
    if path is None:
        return ProductionModel(tag, None, note=f"{why}{found}")
    return ProductionModel(tag, path, found)


def local_production_model(repo: Path, registered_name: str, tag_regex: str,
                           environ: Mapping[str, str]) -> ProductionModel:
    """The model of the newest local release (``ds-runner release --local``): its version in
    the local model registry, where that release registered it."""
    tag, _ = previous_release(repo / OUTPUT_DIR / "report", "", tag_regex)
    if not tag:
        return ProductionModel("", None, note="no local release yet (ds-runner release --local)")
    if not registered_name:
        return ProductionModel(tag, None, note=f"local release {tag} registered no model "
                                               "(no mlflow.registered_model_name)")
    uri = f"models:/{registered_name}/{version_of(tag)}"
    try:
        resolved = resolve_model(uri, Path(), environ=local_target(environ, repo).env)
    except (ModelRegistryError, UsageError) as e:
        return ProductionModel(tag, None, note=str(e))
    return ProductionModel(tag, resolved.model_file, uri)
