"""The one error family of ds-runner and the one table of its exit codes. Only cli.py turns
errors into exit codes; every code it returns is an :class:`ExitCode`."""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status of ds-runner: the README's "Exit codes" table, the CLI's docstring and
    ``ds-runner execute``'s notebook outcomes are this table (tests/unit/test_exit_codes.py)."""

    SUCCESS = 0
    FAILED = 1
    USAGE = 2
    TIMEOUT = 3
    KERNEL_DIED = 4
    GITLAB = 5
    REGISTRY = 6
    GATE_FAILED = 7
    MISSING_TOKEN = 10
    INTERNAL = 70
    INTERRUPTED = 128 + signal.SIGINT    # 130, the shell's convention: 128 + the signal's number
    TERMINATED = 128 + signal.SIGTERM    # 143

    @property
    def meaning(self) -> str:
        """The README's line for this code."""
        return MEANINGS[self]

    @classmethod
    def for_signal(cls, signum: int) -> ExitCode:
        """130 for SIGINT, 143 for SIGTERM: the signals ds-runner handles."""
        return cls(128 + signum)


MEANINGS: dict[ExitCode, str] = {
    ExitCode.SUCCESS: "success (also: nothing to do, e.g. `[skip run]`, a non-production tag)",
    ExitCode.FAILED: "a notebook cell raised (the message names the cell and the exception)",
    ExitCode.USAGE: "usage, directive, configuration or parameter error; nothing was executed",
    ExitCode.TIMEOUT: "a cell or the whole notebook timed out (the partial notebook is saved)",
    ExitCode.KERNEL_DIED: "the kernel died (e.g. killed for memory; the notebook so far is saved)",
    ExitCode.GITLAB: "GitLab refused or failed a request after retries",
    ExitCode.REGISTRY: "the container registry or the image builder failed",
    ExitCode.GATE_FAILED: "a validation gate failed, so nothing was released",
    ExitCode.MISSING_TOKEN: "`GITLAB_TOKEN` is needed but not set (the components let this pass "
                            "with a warning)",
    ExitCode.INTERNAL: "unexpected internal error; the traceback is in `runner-error.log`",
    ExitCode.INTERRUPTED: "interrupted by SIGINT (Ctrl-C); `execute` still saves the notebook, "
                          "`metrics.json` (status `interrupted`) and the HTML",
    ExitCode.TERMINATED: "terminated by SIGTERM, as GitLab cancels a job or ends it at its "
                         "`timeout:`; `execute` saves as for 130 (status `terminated`)",
}

# A notebook's outcome (RunResult.status) -> its exit code; a notebook that rejects its own
# config (runner.config's ConfigError or UsageError raised in a cell) is a usage error, exit 2.
STATUS_CODES: dict[str, ExitCode] = {
    "success": ExitCode.SUCCESS, "failed": ExitCode.FAILED, "timeout": ExitCode.TIMEOUT,
    "kernel_died": ExitCode.KERNEL_DIED, "interrupted": ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
}


class RunnerError(Exception):
    """An expected failure: the CLI prints its one-line message and exits with ``exit_code``."""

    exit_code: ExitCode = ExitCode.FAILED


class UsageError(RunnerError):
    """Bad command-line usage, directive, parameter or configuration (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A configuration file is missing, unreadable or invalid; the message names the key."""


class DirectiveError(UsageError):
    """A commit-message directive such as ``[run path]`` is invalid; the message names it."""


class MissingContextError(UsageError):
    """A GitLab CI/CD variable the command needs (CI_SERVER_URL, CI_PROJECT_ID, CI_PIPELINE_ID)
    is not set and no flag gave it (exit 2). Every command and the GitLab adapter raise this
    one for missing CI context; a missing token is :class:`MissingTokenError`."""


# The names a notebook cell's exception may have for its run to count as a usage error (exit 2):
# runner.config raises these inside the kernel, where only the name comes back.
NOTEBOOK_USAGE_ERRORS = frozenset(cls.__name__ for cls in (ConfigError, UsageError))


class MissingTokenError(RunnerError):
    """GITLAB_TOKEN is needed but not set (exit 10, which the components let pass with a warning,
    as the handbook's pipeline passes when no token is configured for the comment)."""

    exit_code = ExitCode.MISSING_TOKEN


class GitLabError(RunnerError):
    """GitLab refused or failed a request after retries (exit 5)."""

    exit_code = ExitCode.GITLAB


class RegistryError(RunnerError):
    """The container registry or image builder failed (exit 6)."""

    exit_code = ExitCode.REGISTRY


class ModelRegistryError(RunnerError):
    """The MLflow model registry refused or failed a request, or has no such model version
    (exit 1; on GitLab's MLflow API the error is a :class:`GitLabError`, exit 5)."""


class GateFailedError(RunnerError):
    """A validation gate failed, so no release was made (exit 7)."""

    exit_code = ExitCode.GATE_FAILED


class DataCheckError(RunnerError):
    """Data checks with ``on_fail: stop`` failed inside a notebook (``runner.check_data``): the
    run stops at that cell and fails (exit 1, the notebook saved); the message names the checks.
    ``ds-runner check-data`` reports failing checks as a failed gate instead (exit 7)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped ds-runner at once: exit 128 + the signal's number, the shell's
    convention (130 for SIGINT/Ctrl-C, 143 for SIGTERM, which GitLab sends to cancel a job or
    end it at its timeout). A KeyboardInterrupt, so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = ExitCode.for_signal(signum)
