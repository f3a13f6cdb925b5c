"""One exit-code table: ``runner.errors.ExitCode``. The README's table, the CLI's docstring and
``ds-runner execute``'s docstring and notebook outcomes are checked against it."""

from __future__ import annotations

import re
from pathlib import Path

from runner import cli
from runner.commands import execute as execute_command
from runner.errors import MEANINGS, STATUS_CODES, ExitCode, Interrupted, RunnerError

ROOT = Path(__file__).parents[2]


def _readme_table() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    return [(int(code), meaning) for code, meaning in
            (re.match(r"\| (\d+) \| (.*) \|$", row).groups() for row in rows)]  # type: ignore[union-attr]


def test_the_readme_table_is_the_enum() -> None:
    assert _readme_table() == [(int(code), code.meaning) for code in ExitCode]
    assert set(MEANINGS) == set(ExitCode)


def test_the_cli_docstring_names_every_code() -> None:
    doc = cli.__doc__ or ""
    listed = doc.split("Exit codes", 1)[1].split("\n\n", 1)[0]
    assert [int(n) for n in re.findall(r"(?:;|\n)\s+(\d+)\s", listed)] == list(ExitCode)


def test_execute_documents_its_outcome_codes() -> None:
    doc = execute_command.command.help or ""
    named = {int(n) for n in re.findall(r"\b(\d+) [a-z]", doc.split("Exit status:", 1)[1])}
    assert named == set(STATUS_CODES.values()) | {ExitCode.USAGE}


def test_every_error_exits_with_a_code_of_the_table() -> None:
    def subclasses(cls: type[RunnerError]) -> set[type[RunnerError]]:
        return {cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))}

    for error in subclasses(RunnerError):
        assert isinstance(error.exit_code, ExitCode), error
    assert Interrupted(2).exit_code == ExitCode.INTERRUPTED == 130
    assert Interrupted(15).exit_code == ExitCode.TERMINATED == 143


def test_collect_without_a_pipeline_is_missing_context(tmp_path: Path) -> None:
    """Like ``CiEnv.client`` and ``GitLabClient``: missing CI context is exit 2, not 1."""
    from runner.errors import MissingContextError
    from runner.publish.ci import CiEnv
    from runner.publish.collect import collect

    out = collect(CiEnv(token="glpat-token-for-the-test"), tmp_path / "results")
    assert isinstance(out.error, MissingContextError)
    assert out.error.exit_code == ExitCode.USAGE == 2
    assert "CI_PIPELINE_ID" in str(out.error)
