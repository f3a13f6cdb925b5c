"""The ``ds-runner`` command line: one click group, lazy sub-commands, one exit point.

Exit codes (runner.errors.ExitCode, the README's table; tests/unit/test_exit_codes.py keeps
this list in step with both):
  0 success; 1 a notebook cell raised or another expected failure; 2 usage, directive, config or
  parameter error; 3 timeout; 4 kernel died; 5 GitLab failed after retries; 6 registry or image
  build failed; 7 a validation gate failed; 10 GITLAB_TOKEN needed but not set; 70 unexpected
  internal error (traceback in runner-error.log); 130 interrupted (SIGINT, Ctrl-C); 143
  terminated (SIGTERM: GitLab cancelled the job or it reached its timeout).

SIGINT and SIGTERM are handled here: inside ``ds-runner execute`` the first one ends the run
with its outputs saved (``runner.execute.reaper``), otherwise they raise ``Interrupted``.
"""

from __future__ import annotations

import importlib
import logging
import platform
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from runner import __version__, log
from runner.errors import ExitCode, Interrupted, RunnerError
from runner.execute import reaper

logger = logging.getLogger(__name__)

ERROR_LOG = "runner-error.log"

# name -> module under runner.commands exposing ``command: click.Command``. Imported on use so
# that ``ds-runner execute`` never pays for importing python-gitlab or MLflow.
COMMANDS = {
    "detect": "detect",
    "execute": "execute",
    "run": "run",
    "comment": "comment",
    "wiki": "wiki",
    "release": "release",
    "shadow": "shadow",
    "collect": "collect",
    "hash": "hash",
    "build": "build",
    "check-data": "check_data",
    "monitor": "monitor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        loaded = importlib.import_module(f"runner.commands.{module}")
        command: click.Command = loaded.command
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ds-runner")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
def cli(verbose: int, quiet: bool) -> None:
    """Run data-science notebooks as GitLab CI/CD jobs, or locally with `ds-runner run`."""
    log.setup(-1 if quiet else verbose)


def _write_error_log(exc: BaseException, argv: Sequence[str]) -> Path:
    path = Path(ERROR_LOG)
    text = (
        f"### version\n\nds-runner {__version__}, Python {platform.python_version()}, "
        f"{platform.platform()}\n\n### command\n\n    ds-runner {' '.join(argv)}\n\n"
        f"### error\n\n```\n{''.join(traceback.format_exception(exc))}```\n"
    )
    path.write_text(log.masker().mask(text), encoding="utf-8")
    return path


def _on_signal(signum: int, frame: Any) -> None:
    if not reaper.request_stop(signum):
        raise Interrupted(signum)
    name = signal.Signals(signum).name
    logger.warning("got %s: stopping the kernel; saving the notebook, metrics and HTML "
                   "(send it again to stop at once)", name)


def _interrupted(signum: int) -> ExitCode:
    # nbclient's tasks left behind by an abrupt stop would log "Task exception was never
    # retrieved" as they are collected: noise after the one line below.
    logging.getLogger("asyncio").disabled = True
    click.echo(f"ds-runner: {'interrupted' if signum == signal.SIGINT else 'terminated'}",
               err=True)
    return ExitCode.for_signal(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the only place that turns errors and signals into exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    handlers = {}
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            handlers[signum] = signal.signal(signum, _on_signal)
    except ValueError:  # not the main thread: Python delivers signals there only
        pass
    try:
        return _run(args)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _run(args: list[str]) -> int:
    try:
        result: Any = cli.main(args=args, prog_name="ds-runner", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return int(e.exit_code)
    except click.exceptions.Abort as e:  # click's form of KeyboardInterrupt, ours included
        cause = e.__cause__
        return _interrupted(cause.signum if isinstance(cause, Interrupted) else signal.SIGINT)
    except RunnerError as e:
        click.echo(f"ds-runner: error: {log.masker().mask(str(e))}", err=True)
        return e.exit_code
    except Interrupted as e:
        return _interrupted(e.signum)
    except KeyboardInterrupt:
        return _interrupted(signal.SIGINT)
    except Exception as e:
        path = _write_error_log(e, args)
        click.echo(f"ds-runner: unexpected error: {log.masker().mask(repr(e))}\n"
                   f"Check the log at {path}", err=True)
        return ExitCode.INTERNAL
    return int(result or 0)
