"""Commit-message directives: ``[run path/to/nb.ipynb]`` and ``[skip run]``.

Grammar (the keywords are case-insensitive, like GitLab's own ``[skip ci]``; paths are not)::

    skip-directive := "[" WS* "skip" WS+ "run" WS* "]"
    run-directive  := "[" WS* "run" (WS+ PATH)? WS* "]"     PATH has no "[", "]" or line break
    WS             := any whitespace except a line break

* A directive lives on one line. Directives may appear anywhere in the message (subject or body)
  and in any number; ``[run ...]`` paths keep the order written, duplicates are dropped.
* ``[skip run]`` wins over everything, including malformed ``[run ...]`` directives.
* Other bracketed text (``[skip ci]``, ``[WIP]``, ``[running]``, ``[skip-run]``) is not a
  directive and is ignored; GitLab consumes ``[skip ci]`` itself.
* A ``[run`` opener that is not closed on its line, or that contains another ``[``, is an error
  rather than silently ignored, and so is every invalid path: empty, absolute, escaping the
  repository with ``..``, containing a backslash, a control or invisible formatting character,
  longer than 4096 bytes, or not ending in ``.ipynb``.

``DS_RUN_NOTEBOOKS`` (paths separated by spaces or commas) names notebooks the same way;
:func:`parse_list` applies the same path rules to it.

This module is pure (no git). :func:`check_present` takes what git found at the commit, so the
caller (``runner.detect.changes``) can look all paths up in one git call.
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.errors import DirectiveError, UsageError
from runner.paths import NOTEBOOK_SUFFIX

logger = logging.getLogger(__name__)

MAX_PATH_BYTES = 4096
MAX_IGNORED = 100  # directives recorded at most when [skip run] overrides them
RUN_VARIABLE = "DS_RUN_NOTEBOOKS"
_LIST_SEPARATORS = re.compile(r"[\s,]+")
_WS = r"[^\S\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]"  # whitespace that does not break a line
_SKIP = re.compile(rf"\[{_WS}*skip{_WS}+run{_WS}*\]", re.IGNORECASE)
_RUN_OPEN = re.compile(rf"\[{_WS}*run(?=\s|\]|\Z)", re.IGNORECASE)
# After the opener: everything up to the next bracket or line break, then what stopped us.
_RUN_REST = re.compile(r"([^\[\]\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*)(.?)", re.DOTALL)
# Unicode categories refused in paths: controls, invisible format characters (bidi overrides,
# zero-width joiners), line/paragraph separators, unassigned and private-use code points.
_BAD_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cn", "Co", "Cs"}


@dataclass(frozen=True)
class RunDirective:
    """One ``[run ...]`` directive (or ``DS_RUN_NOTEBOOKS`` entry, ``origin`` names the
    variable): its text as written and the normalised repository path."""

    text: str
    path: str
    origin: str = ""

    @property
    def where(self) -> str:
        """How an error message names it: ``bad directive [run x]`` or ``bad <VAR> entry 'x'``."""
        if self.origin:
            return f"bad {self.origin} entry {_shown(self.text)!r}"
        return f"bad directive {_shown(self.text)}"


@dataclass(frozen=True)
class Directives:
    """What a commit message asks for. ``run`` is in the order written, without duplicates."""

    run: tuple[RunDirective, ...] = ()
    skip: bool = False
    skip_text: str = ""
    ignored_errors: tuple[str, ...] = field(default=())  # bad [run] overridden by [skip run]

    @property
    def paths(self) -> list[str]:
        return [d.path for d in self.run]


def _shown(text: str, limit: int = 120) -> str:
    """A directive as it appears in an error message: one line, bounded, controls escaped."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return shown.encode("unicode_escape").decode("ascii") if not shown.isprintable() else shown


def bad_character(text: str) -> str | None:
    """The first control or invisible formatting character in ``text``, if any."""
    if text.isprintable():  # fast path: no category refused here is printable
        return None
    return next((c for c in text if unicodedata.category(c) in _BAD_CATEGORIES), None)


def normalise_path(raw: str, where: str, error: type[UsageError] = DirectiveError) -> str:
    """Validate one repository path's shape and return it normalised (``./a/../b`` -> ``b``).

    ``where`` starts every error message (e.g. ``bad directive [run x]``); ``error`` is the
    exception raised, so ``SCORING_NOTEBOOK`` can reuse the same rules.
    """
    path = raw.strip()
    if not path:
        raise error(f"{where}: no notebook path given (write [run path/to/nb.ipynb])")
    char = bad_character(path)
    if char is not None:
        raise error(f"{where}: the path contains the control character U+{ord(char):04X}")
    if "\\" in path:
        raise error(f"{where}: use forward slashes in repository paths, not '\\'")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise error(f"{where}: the path is longer than {MAX_PATH_BYTES} bytes")
    if path.startswith("/"):
        raise error(f"{where}: the path must be relative to the repository root")
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise error(f"{where}: the path points outside the repository")
    if not norm.endswith(NOTEBOOK_SUFFIX) or posixpath.basename(norm) == NOTEBOOK_SUFFIX:
        hint = " (did you mean [skip run]?)" if norm.lower() == "skip" else ""
        raise error(f"{where}: not a notebook, the path must end in {NOTEBOOK_SUFFIX}{hint}")
    return norm


def parse(message: str) -> Directives:
    """Parse every directive in a commit message; raise DirectiveError for the first bad one.

    Linear in the message length: each character is looked at a bounded number of times.
    """
    skip = _SKIP.search(message)
    runs: list[RunDirective] = []
    seen: set[str] = set()
    checked: dict[str, str] = {}  # raw body -> normalised path, so repeats cost nothing
    errors: list[str] = []
    for opener in _RUN_OPEN.finditer(message):
        if skip and len(runs) + len(errors) >= MAX_IGNORED:
            break  # [skip run] wins anyway: no need to look at thousands of directives
        rest = _RUN_REST.match(message, opener.end())
        assert rest is not None  # the pattern matches the empty string
        body, stop = rest.group(1), rest.group(2)
        text = message[opener.start():rest.end()] if stop == "]" else message[
            opener.start():rest.start(2)]
        try:
            if stop != "]":
                what = "another '['" if stop == "[" else "the end of the line"
                raise DirectiveError(f"bad directive {_shown(text)}: not closed with ']' "
                                     f"before {what}")
            path = checked.get(body) or normalise_path(body, f"bad directive {_shown(text)}")
            checked[body] = path
        except DirectiveError as e:
            if not skip:
                raise
            errors.append(str(e))
            continue
        if path not in seen:
            seen.add(path)
            runs.append(RunDirective(text=text, path=path))
    if skip:
        if runs or errors:
            logger.info("%s overrides %d [run] directive(s)", skip.group(0),
                        len(runs) + len(errors))
        return Directives(run=tuple(runs), skip=True, skip_text=skip.group(0),
                          ignored_errors=tuple(errors))
    return Directives(run=tuple(runs))


def parse_list(value: str, variable: str = RUN_VARIABLE) -> Directives:
    """Notebook paths separated by spaces or commas (``DS_RUN_NOTEBOOKS``), as ``[run]``
    directives: the same path rules, duplicates dropped, the order kept. DirectiveError for the
    first bad entry."""
    runs: list[RunDirective] = []
    seen: set[str] = set()
    for raw in _LIST_SEPARATORS.split(value.strip()):
        if not raw:
            continue
        path = normalise_path(raw, f"bad {variable} entry {_shown(raw)!r}")
        if path not in seen:
            seen.add(path)
            runs.append(RunDirective(text=raw, path=path, origin=variable))
    return Directives(run=tuple(runs))


def combine(first: Directives, second: Directives) -> Directives:
    """``first`` (the commit message's directives, whose ``[skip run]`` counts) followed by the
    paths of ``second`` that ``first`` does not already name."""
    known = set(first.paths)
    extra = tuple(d for d in second.run if d.path not in known)
    return dataclasses.replace(first, run=first.run + extra)


def check_present(directives: Directives, kinds: Mapping[str, str]) -> None:
    """Fail for the first ``[run]`` path that is not a file at the commit.

    ``kinds`` maps each path to what git found there: ``"blob"`` (a file), ``"tree"``,
    ``"commit"`` (a submodule) or ``"missing"``. Not checked when ``[skip run]`` is present.
    """
    if directives.skip:
        return
    for d in directives.run:
        kind = kinds.get(d.path, "missing")
        if kind == "blob":
            continue
        problem = {"missing": "no such file at this commit", "tree": "it is a directory",
                   "commit": "it is a submodule"}.get(kind, f"it is a {kind}, not a file")
        raise DirectiveError(f"{d.where}: {problem}")
