"""Retraining when a scheduled scoring run drifted: ``ds-runner monitor``'s library.

The scoring notebook's config names what to retrain with::

    retrain:
      notebook: notebooks/training_example.ipynb
      ref: main          # default: the default branch (CI_DEFAULT_BRANCH)
      cooldown: 1d       # seconds, or a number with s, m, h or d

When a ``gates.drift`` row of a run failed on a measured value, a pipeline is started on ``ref``
through the pipeline API with ``DS_RUN_NOTEBOOKS=<notebook>`` (so detect runs exactly that
notebook, and its result goes through the normal gates and release) and ``DS_RETRAIN_REASON``,
which marks it as ours. Never a second one: a pipeline this token's user started through the API
on that ref, carrying the marker and the same notebook, that is still running or pending, or
that succeeded within the cool-down, is named instead. A failed or canceled one does not count.
GitLab's rules for this (token, role, ``ci_pipeline_variables_minimum_override_role``) are in
docs/gitlab-facts.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from runner.config import Config
from runner.detect.directives import RUN_VARIABLE
from runner.errors import ConfigError, MissingContextError
from runner.gitlab_client import GitLabClient, Pipeline
from runner.report.gates import GateResult
from runner.report.gates.drift import GATE

REASON_VARIABLE = "DS_RETRAIN_REASON"
DEFAULT_COOLDOWN = "1d"
# Ci::HasStatus::ACTIVE_STATUSES plus created and scheduled: not finished yet
ACTIVE = ("created", "waiting_for_resource", "preparing", "pending", "running", "scheduled")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_REASON_CHARS = 500


def parse_duration(value: Any, key: str, source: str) -> float:
    """``1d``, ``12h``, ``30m``, ``90s`` or a number of seconds; ConfigError naming ``key``."""
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(f"{source}: '{key}' must be a duration such as 1d, 12h, 30m or a "
                          f"number of seconds, got {value!r}")
    return float(match[1]) * _UNITS[match[2]]


@dataclass(frozen=True)
class RetrainSpec:
    """``retrain:`` of a scoring notebook's config."""

    notebook: str
    ref: str = ""                      # "" -> the default branch
    cooldown: str = DEFAULT_COOLDOWN
    cooldown_s: float = 86400.0

    @classmethod
    def from_config(cls, data: Mapping[str, Any], source: str) -> RetrainSpec | None:
        cfg = Config(data, source)
        if cfg.data.get("retrain") is None:
            return None
        block = cfg.get("retrain", dict)
        unknown = sorted(set(block) - {"notebook", "ref", "cooldown"})
        if unknown:
            raise ConfigError(f"{source}: unknown key 'retrain.{unknown[0]}' (expected "
                              "notebook, ref, cooldown)")
        notebook = cfg.get("retrain.notebook", str)
        if not notebook.endswith(".ipynb"):
            raise ConfigError(f"{source}: 'retrain.notebook' must name a notebook (.ipynb), "
                              f"got {notebook!r}")
        cooldown = block.get("cooldown", DEFAULT_COOLDOWN)
        return cls(notebook, cfg.get("retrain.ref", str, ""), str(cooldown),
                   parse_duration(cooldown, "retrain.cooldown", source))


@dataclass(frozen=True)
class RetrainRequest:
    """What ``POST /projects/:id/pipeline`` is sent."""

    ref: str
    variables: dict[str, str]

    def describe(self) -> str:
        body = {"ref": self.ref, "variables": [{"key": k, "value": v, "variable_type": "env_var"}
                                               for k, v in self.variables.items()]}
        return "POST /projects/:id/pipeline\n" + json.dumps(body, indent=2, ensure_ascii=False)


def measured_failures(rows: Sequence[GateResult]) -> list[GateResult]:
    """The drift rows that failed on a measured value (a run that recorded no drift, e.g. one
    that crashed, fails its drift gates but is no reason to retrain)."""
    return [r for r in rows if r.gate == GATE and not r.passed and r.value is not None]


def reason_for(notebook: str, failures: Sequence[GateResult], where: str = "") -> str:
    """``DS_RETRAIN_REASON``: which notebook drifted, where, and which gates failed."""
    text = (f"drift in {notebook}{f' ({where})' if where else ''}: "
            + "; ".join(f"{r.metric}: {r.detail}" for r in failures))
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def request_for(spec: RetrainSpec, reason: str, default_branch: str) -> RetrainRequest:
    ref = spec.ref or default_branch
    if not ref:
        raise MissingContextError("retrain: no ref to start the training pipeline on; set "
                                  "CI_DEFAULT_BRANCH (--default-branch) or retrain.ref")
    return RetrainRequest(ref, {RUN_VARIABLE: spec.notebook, REASON_VARIABLE: reason})


@dataclass(frozen=True)
class Decision:
    """What :func:`retrain` did: ``started``, ``found`` (an earlier one counts) or
    ``dry-run``; ``pipeline`` is the one started or found (None in a dry run)."""

    action: str
    pipeline: Pipeline | None
    message: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_started(client: GitLabClient, ref: str, notebook: str, since: datetime
                 ) -> Pipeline | None:
    """The newest retraining pipeline of ``notebook`` this token's user started on ``ref`` that
    is still running or pending, or that succeeded after ``since``."""
    me = client.current_username()
    base = {"ref": ref, "source": "api", "username": me}
    seen: dict[int, Pipeline] = {}
    for filters in ({"updated_after": _iso(since)}, {"scope": "running"}, {"scope": "pending"}):
        for p in client.pipelines(**base, **filters):
            seen.setdefault(p.id, p)
    for p in sorted(seen.values(), key=lambda p: p.id, reverse=True):
        if p.status not in ACTIVE and p.status != "success":
            continue
        variables = client.pipeline_variables(p.id)
        if REASON_VARIABLE in variables and variables.get(RUN_VARIABLE) == notebook:
            return p
    return None


@dataclass
class Retrainer:
    """Starts or finds the retraining pipeline through ``client`` (a dry-run client prints the
    request instead of sending it); ``now`` is injectable for tests."""

    client: GitLabClient
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def retrain(self, spec: RetrainSpec, request: RetrainRequest) -> Decision:
        since = self.now() - timedelta(seconds=spec.cooldown_s)
        found = find_started(self.client, request.ref, spec.notebook, since)
        if found is not None:
            state = ("succeeded" if found.status == "success" else f"is {found.status}")
            return Decision("found", found, (
                f"retraining pipeline #{found.id} on {found.ref} {state} (started for "
                f"{spec.notebook} within the cool-down of {spec.cooldown}): not starting "
                f"another; {found.web_url}"))
        started = time.time()
        created = self.client.create_pipeline(
            request.ref, request.variables,
            find=lambda: find_started(self.client, request.ref, spec.notebook,
                                      datetime.fromtimestamp(started - 1, timezone.utc)))
        if created is None:
            return Decision("dry-run", None, f"would start a retraining pipeline on "
                            f"{request.ref} with {RUN_VARIABLE}={spec.notebook}")
        return Decision("started", created, (
            f"started retraining pipeline #{created.id} on {created.ref} with "
            f"{RUN_VARIABLE}={spec.notebook}: {created.web_url}"))
