"""Which jobs GitLab creates for a pipeline configuration: workflow:rules, rules, only/except.

gitlab-ci-local runs every job whose ``rules`` pass, but it does not model GitLab's default
``only: [branches, tags]`` for jobs without ``rules``, nor that a child of a merge-request
pipeline is neither a branch nor a tag pipeline. This module models exactly that, for the
simple rule forms this project uses, so tests can say which jobs a real GitLab would create.

GitLab source (gitlab-org/gitlab) behind each step:

* lib/gitlab/ci/config/entry/policy.rb: ``DEFAULT_ONLY = { refs: %w[branches tags] }``.
* lib/gitlab/ci/config/entry/processable.rb ``compose!``: the default ``only`` is dropped when
  the job has ``rules`` *or the pipeline has* ``workflow:rules`` (gitlab-org/gitlab!21742).
* lib/gitlab/ci/pipeline/seed/build.rb ``included?``: ``rules`` decide when present, else
  ``only``/``except``, else the job is always included; ``needs_errors`` rejects a needed job
  that is not in the pipeline unless the need is ``optional``.
* lib/gitlab/ci/build/policy/refs.rb: ``branches`` matches ``pipeline.branch?``, ``tags``
  ``pipeline.tag?``, the source without ``_event``, pluralised or not (``merge_requests``,
  ``schedules``), the source; anything else the ref, by name or ``/regex/``.
* app/models/concerns/ci/has_ref.rb: ``branch?`` is ``!tag? && !merge_request?``.
* app/models/ci/bridge.rb ``child_params``: a child pipeline gets the parent's ref and
  ``merge_request: parent_pipeline.merge_request``, with source ``parent_pipeline``. A child of
  a merge-request pipeline is therefore not a branch pipeline, and jobs with the default
  ``only`` are left out (gitlab-org/gitlab#322012, doc/ci/pipelines/downstream_pipelines.md:
  "use rules or workflow:rules").
* lib/gitlab/ci/build/rules.rb and rules/rule.rb: the first rule whose clauses all match wins
  (a rule without ``if`` matches), its ``when`` or the default (``on_success`` for jobs,
  ``always`` for workflow); no match means ``never``.
* lib/gitlab/ci/pipeline/chain/evaluate_workflow_rules.rb: "Pipeline filtered out by workflow
  rules."; lib/gitlab/ci/pipeline/chain/populate.rb: "No stages / jobs for this pipeline.".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Top-level keys that are not jobs (lib/gitlab/ci/config/entry/root.rb).
RESERVED = {"default", "include", "before_script", "image", "services", "after_script",
            "variables", "stages", "types", "cache", "workflow", "spec"}
DEFAULT_ONLY = {"refs": ["branches", "tags"]}
FILTERED = "Pipeline filtered out by workflow rules."
NO_JOBS = "No stages / jobs for this pipeline."


class NotModelled(ValueError):
    """A rule form this model does not evaluate (better an error than a wrong answer)."""


@dataclass(frozen=True)
class Pipeline:
    """What GitLab knows about a pipeline when it decides which jobs to create."""

    source: str
    ref: str = "main"
    tag: bool = False
    merge_request: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def top(cls, source: str, *, tag: bool = False) -> Pipeline:
        """A pipeline of ``source`` on ``main`` (a tag ``v1.0.0`` with ``tag``, the ref
        ``refs/merge-requests/1/head`` for ``merge_request_event``)."""
        if source == "merge_request_event":
            return cls(source, ref="refs/merge-requests/1/head", merge_request=True,
                       extra={"CI_MERGE_REQUEST_IID": "1"})
        return cls(source, ref="v1.0.0" if tag else "main", tag=tag)

    @property
    def branch(self) -> bool:
        return not self.tag and not self.merge_request  # app/models/concerns/ci/has_ref.rb

    def child(self) -> Pipeline:
        """The child pipeline a trigger job of this pipeline creates (app/models/ci/bridge.rb)."""
        return Pipeline("parent_pipeline", ref=self.ref, tag=self.tag,
                        merge_request=self.merge_request, extra=dict(self.extra))

    @property
    def variables(self) -> dict[str, str]:
        """The predefined variables rules can see (doc/ci/variables/predefined_variables.md)."""
        found = {"CI_PIPELINE_SOURCE": self.source, "CI_COMMIT_REF_NAME": self.ref,
                 **self.extra}
        if self.branch:
            found["CI_COMMIT_BRANCH"] = self.ref
        if self.tag:
            found["CI_COMMIT_TAG"] = self.ref
        return found


@dataclass(frozen=True)
class Outcome:
    """The jobs GitLab creates, or why it creates no pipeline (``error``)."""

    jobs: tuple[str, ...] = ()
    error: str = ""

    @property
    def created(self) -> bool:
        return not self.error


def create(config: Mapping[str, Any], pipeline: Pipeline) -> Outcome:
    """What GitLab makes of ``config`` (includes already merged) for ``pipeline``."""
    variables = {**_root_variables(config), **pipeline.variables}
    workflow = config.get("workflow") or {}
    has_workflow_rules = "rules" in workflow
    if has_workflow_rules and evaluate_rules(workflow["rules"], variables, "always") == "never":
        return Outcome(error=FILTERED)
    jobs = {name: _resolve(config, name) for name, job in config.items()
            if name not in RESERVED and not str(name).startswith(".") and isinstance(job, dict)}
    created = [name for name, job in jobs.items()
               if _included(job, pipeline, variables, has_workflow_rules)]
    for name in created:
        for need in jobs[name].get("needs") or []:
            needed, optional = (need, False) if isinstance(need, str) else (
                need.get("job", ""), bool(need.get("optional")))
            if needed and needed not in created and not optional:
                return Outcome(error=(
                    f"'{name}' job needs '{needed}' job, but '{needed}' does not exist in the "
                    "pipeline. This might be because of the only, except, or rules keywords. To "
                    "need a job that sometimes does not exist in the pipeline, use "
                    "needs:optional."))
    if not created:
        return Outcome(error=NO_JOBS)
    return Outcome(jobs=tuple(created))


def _root_variables(config: Mapping[str, Any]) -> dict[str, str]:
    raw = config.get("variables") or {}
    return {k: str(v["value"] if isinstance(v, dict) else v) for k, v in raw.items()}


def _resolve(config: Mapping[str, Any], name: str, depth: int = 0) -> dict[str, Any]:
    """The job with ``extends`` applied (deep merge, the job's own keys win)."""
    job: dict[str, Any] = dict(config[name])
    parents = job.pop("extends", [])
    if depth > 10:
        raise NotModelled(f"extends nested too deep at {name}")
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = deep_merge(merged, _resolve(config, parent, depth + 1))
    return deep_merge(merged, job)


def _included(job: Mapping[str, Any], pipeline: Pipeline, variables: Mapping[str, str],
              has_workflow_rules: bool) -> bool:
    if "rules" in job:  # lib/gitlab/ci/pipeline/seed/build.rb: rules decide
        return evaluate_rules(job["rules"], variables, job.get("when", "on_success")) != "never"
    only, except_ = job.get("only"), job.get("except")
    if only is None and except_ is None and not has_workflow_rules:
        only = DEFAULT_ONLY  # entry/policy.rb DEFAULT_ONLY, kept by processable.rb compose!
    if only is not None and not _policy(only, pipeline, variables):
        return False
    return except_ is None or not _policy(except_, pipeline, variables)


def _policy(policy: Any, pipeline: Pipeline, variables: Mapping[str, str]) -> bool:
    """``only``/``except``: refs (lib/gitlab/ci/build/policy/refs.rb) and variables."""
    if isinstance(policy, list):
        policy = {"refs": policy}
    unknown = set(policy) - {"refs", "variables"}
    if unknown:
        raise NotModelled(f"only/except keys {sorted(unknown)}")
    ok = True
    if "refs" in policy:
        ok = any(_ref_matches(str(p), pipeline) for p in policy["refs"])
    if "variables" in policy:
        ok = ok and any(evaluate_if(str(e), variables) for e in policy["variables"])
    return ok


def _ref_matches(pattern: str, pipeline: Pipeline) -> bool:
    if pattern == "tags":
        return pipeline.tag
    if pattern == "branches":
        return pipeline.branch
    source = pipeline.source.removesuffix("_event")  # refs.rb sanitized_source_name
    if pattern in (source, source + "s"):
        return True
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return re.search(pattern[1:-1], pipeline.ref) is not None
    return pattern == pipeline.ref


def evaluate_rules(rules: Any, variables: Mapping[str, str], default_when: str) -> str:
    """The ``when`` of the first matching rule, ``default_when`` if it has none; ``never`` if
    no rule matches (lib/gitlab/ci/build/rules.rb)."""
    for rule in rules or []:
        unknown = set(rule) - {"if", "when", "allow_failure", "variables", "needs"}
        if unknown:
            raise NotModelled(f"rules keys {sorted(unknown)}")
        if "if" in rule and not evaluate_if(str(rule["if"]), variables):
            continue
        return str(rule.get("when", default_when))
    return "never"


_TOKEN = re.compile(r"""\s*(?:
    (?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<regex>/(?:\\.|[^/\\])*/[a-z]*)
  | (?P<null>null\b)
  | (?P<op>==|!=|=~|!~|&&|\|\||\(|\))
)""", re.VERBOSE)


def evaluate_if(expression: str, variables: Mapping[str, str]) -> bool:
    """A CI/CD expression of the forms ``$A``, ``$A == "x"``, ``"a" != "b"``, ``$A =~ /re/``,
    joined by ``&&`` (binds tighter) and ``||``, with parentheses
    (lib/gitlab/ci/pipeline/expression/lexer.rb, doc/ci/jobs/job_rules.md)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expression.rstrip()):
        match = _TOKEN.match(expression, pos)
        if not match or match.end() == pos:
            raise NotModelled(f"expression {expression!r} at {expression[pos:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    parser = _Parser(tokens, variables, expression)
    value = parser.disjunction()
    if parser.pos != len(tokens):
        raise NotModelled(f"expression {expression!r}")
    return bool(value)


@dataclass
class _Parser:
    tokens: list[tuple[str, str]]
    variables: Mapping[str, str]
    text: str
    pos: int = 0

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def disjunction(self) -> bool:
        value = self.conjunction()
        while self._peek() == ("op", "||"):
            self.pos += 1
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.comparison()
        while self._peek() == ("op", "&&"):
            self.pos += 1
            value = self.comparison() and value
        return value

    def comparison(self) -> bool:
        if self._peek() == ("op", "("):
            self.pos += 1
            value = self.disjunction()
            if self._peek() != ("op", ")"):
                raise NotModelled(f"expression {self.text!r}: missing ')'")
            self.pos += 1
            return value
        left = self._operand()
        kind, op = self._peek()
        if kind != "op" or op not in ("==", "!=", "=~", "!~"):
            return bool(left)  # a lone variable: true when set and not empty
        self.pos += 1
        if op in ("=~", "!~"):
            kind, pattern = self._peek()
            if kind != "regex":
                raise NotModelled(f"expression {self.text!r}: {op} needs a /regex/")
            self.pos += 1
            body, flags = pattern[1:].rsplit("/", 1)
            found = left is not None and re.search(
                body, left, re.IGNORECASE if "i" in flags else 0) is not None
            return found if op == "=~" else not found
        right = self._operand()
        return (left == right) if op == "==" else (left != right)

    def _operand(self) -> str | None:
        kind, text = self._peek()
        self.pos += 1
        if kind == "var":
            return self.variables.get(text.strip("${}"))
        if kind == "str":
            return text[1:-1]
        if kind == "null":
            return None
        raise NotModelled(f"expression {self.text!r}: unexpected {text!r}")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """GitLab's merge of included configuration: hashes merge key by key, the including file
    (``override``) wins, arrays and scalars are replaced (doc/ci/yaml/includes.md, "Merge method
    for include")."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_includes(config: Mapping[str, Any],
                   load: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]) -> dict[str, Any]:
    """``config`` with its ``include:`` entries merged in, recursively. ``load`` turns one entry
    (``{component: ..., inputs: ...}``, ``{local: ...}``) into its configuration, or ``None``
    for an entry that cannot be read here (GitLab's own ``template:`` files)."""
    entries = config.get("include") or []
    merged: dict[str, Any] = {}
    for entry in [entries] if isinstance(entries, (str, dict)) else entries:
        loaded = load({"local": entry} if isinstance(entry, str) else entry)
        if loaded is not None:
            merged = deep_merge(merged, merge_includes(loaded, load))
    own = {k: v for k, v in config.items() if k != "include"}
    return deep_merge(merged, own)
