"""Which notebooks does this pipeline run? Changed notebooks plus commit-message directives.

One ``git cat-file --batch-check`` resolves every commit and directive path, and one
``git diff-tree -z`` with ``:(glob)`` pathspecs lists the changed notebooks, whatever the size of
the repository. See docs/commands/detect.md for the rules per pipeline source.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.detect import directives as directives_mod
from runner.errors import DirectiveError, UsageError
from runner.paths import NOTEBOOK_GLOB, NOTEBOOK_SUFFIX, real_path

logger = logging.getLogger(__name__)

ZERO_SHA = "0" * 40
SYMLINK_MODE = "120000"
ENV_NAMES = {
    "pipeline_source": "CI_PIPELINE_SOURCE", "commit_message": "CI_COMMIT_MESSAGE",
    "commit_sha": "CI_COMMIT_SHA", "before_sha": "CI_COMMIT_BEFORE_SHA",
    "mr_diff_base_sha": "CI_MERGE_REQUEST_DIFF_BASE_SHA", "default_branch": "CI_DEFAULT_BRANCH",
    "scoring_notebook": "SCORING_NOTEBOOK", "notebooks_glob": "DS_NOTEBOOKS_GLOB",
    "run_notebooks": directives_mod.RUN_VARIABLE,
    "mr_source_sha": "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
}
# Pipelines a person or another system starts on purpose (Run pipeline, the pipelines API, a
# trigger token, a multi-project trigger job): DS_RUN_NOTEBOOKS replaces change detection there.
MANUAL_SOURCES = ("web", "api", "trigger", "pipeline")
SCHEDULE_HELP = (
    "set it in the pipeline schedule (Build > Pipeline schedules > Edit > Variables), e.g. "
    "notebooks/inference_example.ipynb. If GitLab refuses to save schedule variables (\"not "
    "authorized to set pipeline schedule variables\"), the project setting Settings > CI/CD > "
    "Variables > \"Minimum role to use pipeline variables\" "
    "(ci_pipeline_variables_minimum_override_role) is above your role or no_one_allowed, the "
    "default of new gitlab.com projects: an Owner can set it to developer or maintainer. Or "
    "define SCORING_NOTEBOOK as a project CI/CD variable (Settings > CI/CD > Variables), which "
    "that setting does not restrict and which only scheduled pipelines read")


@dataclass
class DetectContext:
    """The inputs of detection; ``from_env`` reads GitLab's predefined variables."""

    pipeline_source: str = "push"
    commit_message: str = ""
    commit_sha: str = "HEAD"
    before_sha: str = ""
    mr_diff_base_sha: str = ""
    default_branch: str = "main"
    scoring_notebook: str = ""
    notebooks_glob: str = NOTEBOOK_GLOB
    run_notebooks: str = ""  # DS_RUN_NOTEBOOKS
    mr_source_sha: str = ""  # CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (merged results, merge trains)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DetectContext:
        """Unset or empty variables keep the defaults."""
        values = {attr: environ[name] for attr, name in ENV_NAMES.items() if environ.get(name)}
        return cls(**values)


@dataclass
class Detection:
    """The answer: notebooks in run order (directives first, then changed ones, sorted)."""

    notebooks: list[str]
    skip: bool
    reason: str
    source: str
    commit_sha: str = ""  # the pipeline's commit (CI_COMMIT_SHA), whose files run
    analysed_sha: str = ""  # whose message and changes were read (the MR head in merged results)
    base_sha: str = ""  # what the commit was compared with; "" when nothing was compared
    base: str = ""  # how base_sha was chosen, e.g. "CI_COMMIT_BEFORE_SHA", "merge-base origin/main"
    directives: list[str] = field(default_factory=list)  # [run] paths, in order written
    requested: list[str] = field(default_factory=list)  # DS_RUN_NOTEBOOKS paths, in order
    changed: list[str] = field(default_factory=list)  # added, modified or renamed notebooks
    deleted: list[str] = field(default_factory=list)  # deleted notebooks (never run)
    renamed: list[list[str]] = field(default_factory=list)  # [old, new] pairs
    reused: list[dict[str, Any]] = field(default_factory=list)  # runner.publish.reuse, not run

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        copies = {k: list(v) for k, v in data.items() if isinstance(v, list)}
        copies["renamed"] = [list(pair) for pair in self.renamed]
        return {"count": len(self.notebooks), **data, **copies}


@dataclass
class _Changes:
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    renamed: list[list[str]] = field(default_factory=list)


def git(repo: Path, *args: str, stdin: bytes | None = None, ok: Sequence[int] = (0,)) -> bytes:
    """Run one git command in ``repo`` and return its stdout; other exit codes -> UsageError."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin,
                              capture_output=True, check=False)
    except FileNotFoundError as e:
        raise UsageError("git is not installed or not on PATH") from e
    if proc.returncode not in ok:
        message = " ".join(proc.stderr.decode("utf-8", "replace").split())
        raise UsageError(f"git {args[0]} failed in {repo}: {message[:400]}")
    return proc.stdout


def pathspecs(notebooks_glob: str) -> list[str]:
    """Comma-separated globs with git's ``**`` semantics; a leading ``!`` excludes."""
    specs = []
    for pattern in (p.strip() for p in notebooks_glob.split(",")):
        if not pattern:
            continue
        if not pattern.isprintable():
            raise UsageError(f"notebooks glob {pattern!r} contains control characters")
        specs.append(f":(exclude,glob){pattern[1:]}" if pattern.startswith("!")
                     else f":(glob){pattern}")
    return specs or [f":(glob){NOTEBOOK_GLOB}"]


def lookup(repo: Path, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Resolve object names in one call: name -> (object id, type); type "missing" if absent."""
    if not names:
        return {}
    out = git(repo, "cat-file", "--batch-check", stdin="".join(f"{n}\n" for n in names).encode())
    result = {}
    lines = out.split(b"\n")[: len(names)]
    if len(lines) != len(names):
        raise UsageError(f"git cat-file answered {len(lines)} lines for {len(names)} names")
    for name, line in zip(names, lines, strict=True):
        parts = line.decode("utf-8", "surrogateescape").split(" ")
        missing = parts[-1] in ("missing", "ambiguous") or len(parts) != 3
        result[name] = ("", "missing") if missing else (parts[0], parts[1])
    return result


def diff(repo: Path, base: str | None, head: str, specs: Sequence[str]) -> _Changes:
    """Notebooks changed from ``base`` to ``head`` (``base=None``: all files of a root commit)."""
    revs = ["--root", head] if base is None else [base, head]
    out = git(repo, "diff-tree", "-r", "-z", "--no-commit-id", "--name-status", "-M", *revs,
              "--", *specs)
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    changes = _Changes()
    i = 0
    while i < len(tokens) - 1:
        status = tokens[i]
        if status[:1] in ("R", "C"):
            old, new = tokens[i + 1], tokens[i + 2]
            i += 3
        else:
            old = new = tokens[i + 1]
            i += 2
        if not new.endswith(NOTEBOOK_SUFFIX):
            if status[0] == "R" and old.endswith(NOTEBOOK_SUFFIX):
                changes.deleted.append(old)  # renamed to something that is not a notebook
            continue
        if status[0] == "R" and old.endswith(NOTEBOOK_SUFFIX):
            changes.renamed.append([old, new])
        if status[0] in "AMRC":
            changes.changed.append(_safe(new))
        elif status[0] == "D":
            changes.deleted.append(old)
    changes.changed.sort()
    changes.deleted.sort()
    return changes


def _symlinks(repo: Path, rev: str, paths: Sequence[str]) -> dict[str, str]:
    """The symbolic links among ``paths`` at ``rev``: path -> target (two git calls at most)."""
    out = git(repo, "--literal-pathspecs", "ls-tree", "-z", "--full-tree", rev, "--", *paths)
    shas = {}
    for entry in out.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        mode, _, rest = meta.partition(" ")
        if mode == SYMLINK_MODE:
            shas[path] = rest.split(" ")[-1]
    if not shas:
        return {}
    out = git(repo, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in shas.values()).encode())
    targets, pos = {}, 0
    for path in shas:
        end = out.index(b"\n", pos)
        size = int(out[pos:end].split(b" ")[2])
        targets[path] = out[end + 1:end + 1 + size].decode("utf-8", "surrogateescape")
        pos = end + 2 + size
    return targets


def check_inside(repo: Path, rev: str, notebooks: Sequence[str],
                 directives: directives_mod.Directives | None = None) -> None:
    """Refuse a notebook that is a symbolic link leading outside the repository at ``rev``,
    with the message ``ds-runner execute`` gives for it (``runner.paths``)."""
    links = _symlinks(repo, rev, notebooks) if notebooks else {}
    if not links:
        return
    named = {d.path: d for d in (directives.run if directives else ())}
    known: dict[str, str | None] = dict(links)

    def readlink(path: str) -> str | None:
        if path not in known:
            known[path] = _symlinks(repo, rev, [path]).get(path)
        return known[path]

    for path in links:
        try:
            real_path(repo, path, readlink)
        except UsageError as e:
            if path in named:
                raise DirectiveError(f"{named[path].where}: {e}") from None
            raise


def _safe(path: str) -> str:
    """Changed paths end up in shell scripts, YAML and dotenv files: refuse control characters."""
    if directives_mod.bad_character(path) is not None:
        raise UsageError(f"changed notebook {path!r} has a control character in its path; "
                         "rename it")
    return path


def _rev(value: str, what: str) -> str:
    """A revision from the environment or a flag: one printable word."""
    value = value.strip()
    if value and (not value.isprintable() or " " in value or value.startswith("-")):
        raise UsageError(f"{what} {value!r} is not a valid git revision")
    return value


def _is_shallow_boundary(repo: Path, sha: str) -> bool:
    shallow = git(repo, "rev-parse", "--git-path", "shallow").decode().strip()
    path = Path(shallow) if Path(shallow).is_absolute() else repo / shallow
    return path.is_file() and sha in path.read_text().split()


def _merge_base(repo: Path, branch: str, head: str) -> tuple[str, str]:
    """The merge base of ``head`` with ``origin/<branch>`` or ``<branch>``; ("", "") if none."""
    for ref in (f"origin/{branch}", branch):
        out = git(repo, "merge-base", ref, head, ok=(0, 1, 128)).decode().strip()
        if out and " " not in out:
            return out, ref
    return "", ""


def _fallback(repo: Path, head: str, parent: str, branch: str, why: str,
              specs: Sequence[str]) -> tuple[_Changes, str, str, str]:
    """Base chosen when the before/diff-base SHA is unusable: merge base, parent, or root."""
    base, ref = _merge_base(repo, branch, head) if branch else ("", "")
    if base and base != head:
        return diff(repo, base, head, specs), base, f"merge-base {ref}", (
            f"since the merge base {base[:8]} with {ref} ({why})")
    if parent:
        how = f"it is on {ref}" if base else f"no merge base with {branch or 'a default branch'}"
        return diff(repo, parent, head, specs), parent, "parent", (
            f"in commit {head[:8]} itself ({why}; {how})")
    if _is_shallow_boundary(repo, head):
        logger.warning("commit %s is at the shallow-clone boundary: its changes are unknown; "
                       "fetch more history (GIT_DEPTH: 0)", head[:8])
        return _Changes(), "", "shallow", (
            f"commit {head[:8]} is at the shallow-clone boundary so its changes are unknown "
            f"({why}); set GIT_DEPTH to fetch more history")
    return diff(repo, None, head, specs), "", "root", f"in root commit {head[:8]} ({why})"


def _scoring(repo: Path, ctx: DetectContext) -> Detection:
    raw = ctx.scoring_notebook.strip()
    if not raw:
        raise UsageError(f"scheduled pipeline but SCORING_NOTEBOOK is not set: {SCHEDULE_HELP}")
    path = directives_mod.normalise_path(raw, f"SCORING_NOTEBOOK={raw!r}", UsageError)
    found = lookup(repo, [f"{ctx.commit_sha}^{{commit}}", f"{ctx.commit_sha}:{path}"])
    head = _head(found, ctx.commit_sha)
    if found[f"{ctx.commit_sha}:{path}"][1] != "blob":
        raise UsageError(f"SCORING_NOTEBOOK={raw!r} names no notebook in the repository at "
                         f"{head[:8]}")
    check_inside(repo, head, [path])
    return Detection(notebooks=[path], skip=False, source=ctx.pipeline_source, commit_sha=head,
                     analysed_sha=head, reason=f"scheduled pipeline: SCORING_NOTEBOOK={path}")


def _requested(repo: Path, ctx: DetectContext, source: str,
               requested: directives_mod.Directives) -> Detection:
    """A manual pipeline with DS_RUN_NOTEBOOKS runs exactly those notebooks."""
    rev = ctx.commit_sha
    found = lookup(repo, [f"{rev}^{{commit}}", *(f"{rev}:{p}" for p in requested.paths)])
    head = _head(found, rev)
    directives_mod.check_present(requested, {p: found[f"{rev}:{p}"][1] for p in requested.paths})
    check_inside(repo, head, requested.paths, requested)
    return Detection(notebooks=requested.paths, skip=False, source=source, commit_sha=head,
                     analysed_sha=head, requested=requested.paths,
                     reason=f"{directives_mod.RUN_VARIABLE} in a {source} pipeline: exactly "
                            f"{len(requested.paths)} requested notebook(s) run")


def _analysed(repo: Path, ctx: DetectContext, source: str) -> tuple[str, str]:
    """The revision whose message and changes decide, and that message.

    In merged-results and merge-train pipelines CI_COMMIT_SHA is GitLab's merge commit: its
    message is not the author's and its diff holds target-branch changes. There
    CI_MERGE_REQUEST_SOURCE_BRANCH_SHA (empty in other merge-request pipelines) is the head of
    the source branch (doc/ci/variables/predefined_variables.md,
    doc/ci/pipelines/merged_results_pipelines.md).
    """
    source_sha = _rev(ctx.mr_source_sha, "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA")
    if source != "merge_request_event" or not source_sha:
        return ctx.commit_sha, ctx.commit_message
    sha, kind = lookup(repo, [f"{source_sha}^{{commit}}"])[f"{source_sha}^{{commit}}"]
    if kind != "commit":
        raise UsageError(f"CI_MERGE_REQUEST_SOURCE_BRANCH_SHA {source_sha[:8]} is not in this "
                         "clone, so its directives cannot be read: fetch the whole history "
                         "(GIT_DEPTH: 0)")
    message = git(repo, "log", "-1", "--format=%B", sha).decode("utf-8", "replace")
    logger.info("merged-results pipeline: reading the directives and changes of the source "
                "branch head %s, not of GitLab's merge commit", sha[:8])
    return sha, message


def _head(found: Mapping[str, tuple[str, str]], rev: str) -> str:
    sha, kind = found[f"{rev}^{{commit}}"]
    if kind != "commit":
        raise UsageError(f"commit {rev!r} is not in the repository (CI_COMMIT_SHA / --sha)")
    return sha


def detect(repo: Path, ctx: DetectContext) -> Detection:
    """Decide which notebooks run. Raises DirectiveError (exit 2) for a bad directive."""
    ctx = dataclasses.replace(ctx, commit_sha=_rev(ctx.commit_sha, "CI_COMMIT_SHA") or "HEAD")
    if ctx.pipeline_source == "schedule":  # directives of the last commit do not steer schedules
        return _scoring(repo, ctx)
    source = ctx.pipeline_source or "push"
    requested = directives_mod.parse_list(ctx.run_notebooks)
    if requested.run and source in MANUAL_SOURCES:
        return _requested(repo, ctx, source, requested)
    rev, message = _analysed(repo, ctx, source)
    own = directives_mod.parse(message)
    wanted = directives_mod.combine(own, requested)
    pipeline_rev = ctx.commit_sha  # what the jobs check out and run: paths are checked there
    if wanted.skip:
        found = lookup(repo, [f"{pipeline_rev}^{{commit}}", f"{rev}^{{commit}}"])
        head = _head(found, pipeline_rev)
        return Detection(notebooks=[], skip=True, source=source, commit_sha=head,
                         analysed_sha=found[f"{rev}^{{commit}}"][0],
                         reason=f"{wanted.skip_text} in the commit message: nothing runs",
                         directives=own.paths, requested=requested.paths)
    mr = source == "merge_request_event"
    base_var = "CI_MERGE_REQUEST_DIFF_BASE_SHA" if mr else "CI_COMMIT_BEFORE_SHA"
    base_rev = _rev(ctx.mr_diff_base_sha if mr else ctx.before_sha, base_var)
    names = [f"{pipeline_rev}^{{commit}}", f"{rev}^{{commit}}", f"{rev}^1^{{commit}}"]
    if base_rev and base_rev != ZERO_SHA:
        names.append(f"{base_rev}^{{commit}}")
    names += [f"{pipeline_rev}:{p}" for p in wanted.paths]
    found = lookup(repo, names)
    pipeline_head = _head(found, pipeline_rev)
    head = found[f"{rev}^{{commit}}"][0]
    directives_mod.check_present(wanted,
                                 {p: found[f"{pipeline_rev}:{p}"][1] for p in wanted.paths})

    specs = pathspecs(ctx.notebooks_glob)
    base_sha, base_kind = found.get(f"{base_rev}^{{commit}}", ("", "missing"))
    if base_kind == "commit":
        changes = diff(repo, base_sha, head, specs)
        base, where = base_var, f"between {base_sha[:8]} ({base_var}) and {head[:8]}"
    else:
        why = (f"{base_var} is not set" if not base_rev else f"{base_var} is all zeros"
               if base_rev == ZERO_SHA else f"{base_var} {base_rev[:8]} is not in this clone")
        parent = found[f"{rev}^1^{{commit}}"][0]
        branch = _rev(ctx.default_branch, "CI_DEFAULT_BRANCH")
        changes, base_sha, base, where = _fallback(repo, head, parent, branch, why, specs)
    first = wanted.paths
    chosen, written = set(first), set(own.paths)
    rest = [p for p in changes.changed if p not in chosen]
    check_inside(repo, pipeline_head, first + rest, wanted)
    count = f"{len(changes.changed)} notebook(s)" if changes.changed else "no notebook"
    parts = [f"{count} matching {ctx.notebooks_glob} changed {where}"]
    if head != pipeline_head:
        parts.append(f"merged-results pipeline: source branch head {head[:8]} "
                     f"(CI_MERGE_REQUEST_SOURCE_BRANCH_SHA) read, not merge commit "
                     f"{pipeline_head[:8]}")
    if own.paths:
        parts.append(f"{len(own.paths)} requested by [run] directive(s)")
    extra = [p for p in first if p not in written]
    if extra:
        parts.append(f"{len(extra)} requested by {directives_mod.RUN_VARIABLE}")
    if changes.deleted:
        parts.append(f"{len(changes.deleted)} deleted (not run)")
    return Detection(notebooks=first + rest, skip=False, reason="; ".join(parts), source=source,
                     commit_sha=pipeline_head, analysed_sha=head, base_sha=base_sha, base=base,
                     directives=own.paths, requested=requested.paths, changed=changes.changed,
                     deleted=changes.deleted, renamed=changes.renamed)
