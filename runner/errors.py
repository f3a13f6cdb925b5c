"""The one error family of ds-runner. Only cli.py turns these into exit codes."""

from __future__ import annotations


class RunnerError(Exception):
    """An expected failure: the CLI prints its one-line message and exits with ``exit_code``."""

    exit_code = 1


class UsageError(RunnerError):
    """Bad command-line usage, directive, parameter or configuration (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file is missing, unreadable or invalid; the message names the key."""


class DirectiveError(UsageError):
    """A commit-message directive such as ``[run path]`` is invalid; the message names it."""


class NotebookExecutionError(RunnerError):
    """A notebook cell raised. Carries the failing cell and exception (exit 1)."""

    exit_code = 1

    def __init__(self, path: str, cell_index: int | None, ename: str, evalue: str) -> None:
        self.path = path
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        where = f"cell {cell_index}" if cell_index is not None else "an unknown cell"
        super().__init__(f"{path}: {where} raised {ename}: {evalue}")


class NotebookTimeoutError(RunnerError):
    """A cell or the whole notebook ran past its time limit (exit 3)."""

    exit_code = 3


class KernelDiedError(RunnerError):
    """The kernel process died, e.g. killed for memory (exit 4)."""

    exit_code = 4


class MissingTokenError(RunnerError):
    """GITLAB_TOKEN is needed but not set (exit 10, which the components let pass with a warning,
    as the handbook's pipeline passes when no token is configured for the comment)."""

    exit_code = 10


class GitLabError(RunnerError):
    """GitLab refused or failed a request after retries (exit 5)."""

    exit_code = 5


class RegistryError(RunnerError):
    """The container registry or image builder failed (exit 6)."""

    exit_code = 6


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped ds-runner at once: exit 128 + the signal's number, the shell's
    convention (130 for SIGINT/Ctrl-C, 143 for SIGTERM, which GitLab sends to cancel a job or
    end it at its timeout). A KeyboardInterrupt, so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


class GateFailedError(RunnerError):
    """A validation gate failed, so no release was made (exit 7)."""

    exit_code = 7
