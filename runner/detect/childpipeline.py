"""Turn a Detection into what later jobs consume: a dotenv file and a child-pipeline YAML.

The child pipeline has one ``ds-runner execute`` job per notebook (``parallel`` mode: they run at
once on as many runners as are free; ``sequential`` mode: chained with ``needs`` so they run one
after another, each still in its own job). With nothing to run it holds one harmless job,
because GitLab rejects a child pipeline without jobs.
"""

from __future__ import annotations

import logging
import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.detect.changes import DetectContext, Detection, detect
from runner.errors import UsageError
from runner.masking import Masker
from runner.paths import OUTPUT_DIR, notebook_stem

logger = logging.getLogger(__name__)

JOB_PREFIX = "execute:"
EMPTY_JOB = "ds-runner:nothing-to-run"
MAX_JOB_NAME = 255
JOB_MARGIN_S = 300  # the CI job outlives the notebook timeout, so the partial notebook is saved
DOTENV_LIMIT = 5120  # bytes, GitLab's default limit for a dotenv report
MAX_REASON = 1000
MODES = ("parallel", "sequential")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB_CHARS = re.compile(r"([*?\[\]{}\\])")


@dataclass(frozen=True)
class ChildOptions:
    """Settings of the generated execute jobs (``--child-*`` options of ``ds-runner detect``)."""

    image: str = ""
    tags: tuple[str, ...] = ()
    timeout_s: int = 3600
    stage: str = "execute"
    before_script: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    mode: str = "parallel"
    expire_in: str = "30 days"

    @classmethod
    def build(cls, *, image: str = "", tags: Iterable[str] = (), timeout_s: int = 3600,
              stage: str = "execute", before_script: Iterable[str] = (),
              variables: Iterable[str] = (), mode: str = "parallel",
              expire_in: str = "30 days") -> ChildOptions:
        """Validate raw option values; ``variables`` are ``KEY=VALUE`` strings."""
        parsed: dict[str, str] = {}
        for item in variables:
            key, sep, value = item.partition("=")
            if not sep or not _VARIABLE.fullmatch(key):
                raise UsageError(f"--child-variables {item!r}: expected KEY=VALUE with KEY made "
                                 "of letters, digits and underscores")
            parsed[key] = value
        if timeout_s <= 0:
            raise UsageError(f"--child-timeout must be a positive number of seconds: {timeout_s}")
        if mode not in MODES:
            raise UsageError(f"--child-mode must be one of {', '.join(MODES)}: {mode!r}")
        if not stage.strip():
            raise UsageError("--child-stage must not be empty")
        return cls(image=image.strip(), tags=tuple(t for t in tags if t.strip()),
                   timeout_s=timeout_s, stage=stage.strip(), before_script=tuple(before_script),
                   variables=parsed, mode=mode, expire_in=expire_in.strip() or "30 days")


def job_name(notebook: str) -> str:
    """``execute:<path without .ipynb>``; over 255 characters it is cut and made unique."""
    name = JOB_PREFIX + notebook_stem(notebook)
    if len(name) <= MAX_JOB_NAME:
        return name
    import hashlib  # rarely needed

    digest = hashlib.sha256(notebook.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{name[: MAX_JOB_NAME - len(digest) - 1]}~{digest}"


def output_folder(notebook: str) -> str:
    """Where ``ds-runner execute`` writes a notebook's results, relative to the project."""
    return f"{OUTPUT_DIR}/{notebook_stem(notebook)}/"


def _job_timeout(seconds: int) -> str:
    return f"{math.ceil((seconds + JOB_MARGIN_S) / 60)} minutes"


def _common(opts: ChildOptions) -> dict[str, Any]:
    job: dict[str, Any] = {"stage": opts.stage}
    if opts.image:
        job["image"] = opts.image
    if opts.tags:
        job["tags"] = list(opts.tags)
    return job


def child_pipeline(detection: Detection, opts: ChildOptions) -> dict[str, Any]:
    """The child pipeline as a mapping (``render_child_pipeline`` dumps it as YAML)."""
    if not opts.image:
        logger.warning("no --child-image (DS_CHILD_IMAGE, CI_JOB_IMAGE): the child jobs use the "
                       "runner's default image, which may lack ds-runner")
    # Without workflow:rules a job without rules gets GitLab's default `only: [branches, tags]`,
    # and a child of a merge-request pipeline is neither, so it would get no jobs at all
    # (gitlab-org/gitlab#322012; lib/gitlab/ci/config/entry/processable.rb drops that default
    # when workflow:rules exist). `when: always` keeps the child running under every parent.
    pipeline: dict[str, Any] = {"workflow": {"rules": [{"when": "always"}]},
                                "stages": [opts.stage]}
    if not detection.notebooks:
        note = f"ds-runner detect: nothing to run: {detection.reason}"
        pipeline[EMPTY_JOB] = {**_common(opts), "variables": {"GIT_STRATEGY": "none"},
                               "script": [f"echo {shlex.quote(note)}"]}
        return pipeline
    previous = ""
    for notebook in detection.notebooks:
        folder = output_folder(notebook)
        escaped = _GLOB_CHARS.sub(r"\\\1", folder)  # artifact paths are glob patterns
        job = _common(opts)
        if opts.variables:
            job["variables"] = dict(opts.variables)
        if opts.before_script:
            job["before_script"] = list(opts.before_script)
        job["script"] = [f"ds-runner execute --output-dir {OUTPUT_DIR} --timeout {opts.timeout_s}"
                         f" --json -- {shlex.quote(notebook)}"]
        slug = folder[len(OUTPUT_DIR) + 1:-1].replace("/", "-")
        job["artifacts"] = {
            "when": "always", "name": f"ds-runner-{slug}", "expire_in": opts.expire_in,
            "paths": [escaped],
            "reports": {"metrics": f"{escaped}metrics.txt"},
        }
        job["timeout"] = _job_timeout(opts.timeout_s)
        if opts.mode == "sequential" and previous:
            job["needs"] = [previous]
            job["when"] = "always"  # a failed notebook does not stop the next one
        name = job_name(notebook)
        pipeline[name] = job
        previous = name
    return pipeline


def render_child_pipeline(detection: Detection, opts: ChildOptions,
                          masker: Masker | None = None) -> str:
    import yaml  # only when a child pipeline is asked for

    data = child_pipeline(detection, opts)
    if masker:
        data = masker.mask_obj(data, keys=True)  # job names are keys and name notebooks
    header = (f"# Generated by ds-runner detect for {detection.commit_sha or 'HEAD'}: "
              f"{len(detection.notebooks)} notebook(s), {opts.mode}. Do not edit.\n")
    body: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=4096)
    return header + body


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_dotenv(detection: Detection, masker: Masker | None = None) -> str:
    """GitLab dotenv report: ``KEY=value`` lines, single-line values, under 5 KB.

    ``DS_NOTEBOOKS`` is a space-separated list in which a path with spaces or shell
    metacharacters is single-quoted (``shlex.join``): ``for nb in $DS_NOTEBOOKS`` works for plain
    paths and ``eval "set -- $DS_NOTEBOOKS"`` for any. When the list does not fit in the 5 KB
    limit it is left empty and ``DS_NOTEBOOKS_COMPLETE=false``; the child pipeline and
    ``--json`` always carry the full list.
    """
    mask = masker.mask if masker else (lambda text: text)
    reason = _one_line(mask(detection.reason))[:MAX_REASON]
    values = {
        "DS_NOTEBOOKS": mask(shlex.join(detection.notebooks)),
        "DS_NOTEBOOKS_COMPLETE": "true",
        "DS_NOTEBOOK_COUNT": str(len(detection.notebooks)),
        "DS_SKIP": "true" if detection.skip else "false",
        "DS_REASON": reason,
        "DS_SOURCE": _one_line(detection.source),
        "DS_COMMIT_SHA": detection.commit_sha,
        "DS_BASE_SHA": detection.base_sha,
    }

    def text() -> str:
        return "".join(f"{key}={value}\n" for key, value in values.items())

    if len(text().encode()) > DOTENV_LIMIT:
        logger.warning("%d notebooks do not fit in a %d-byte dotenv file: DS_NOTEBOOKS is left "
                       "empty (DS_NOTEBOOKS_COMPLETE=false); use the child pipeline or --json",
                       len(detection.notebooks), DOTENV_LIMIT)
        values["DS_NOTEBOOKS"], values["DS_NOTEBOOKS_COMPLETE"] = "", "false"
    return text()


def detect_and_write(repo: Path, ctx: DetectContext, *, dotenv: Path | None = None,
                     child_pipeline_file: Path | None = None, child: ChildOptions | None = None,
                     masker: Masker | None = None,
                     adjust: Callable[[Detection], Detection] | None = None) -> Detection:
    """Detect, then write the requested files. Nothing is written when detection fails.
    ``adjust`` changes the answer first (``ds-runner detect`` drops reused notebooks with it)."""
    detection = detect(repo, ctx)
    if adjust is not None:
        detection = adjust(detection)
    outputs: list[tuple[Path, str]] = []
    if dotenv is not None:
        outputs.append((dotenv, render_dotenv(detection, masker)))
    if child_pipeline_file is not None:
        rendered = render_child_pipeline(detection, child or ChildOptions(), masker)
        outputs.append((child_pipeline_file, rendered))
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        logger.debug("wrote %s", path)
    return detection
