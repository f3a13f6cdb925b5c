from __future__ import annotations

from pathlib import Path

import click
import pytest

from runner import cli
from runner.errors import ConfigError, ExitCode, GitLabError


@pytest.fixture
def fake_command(monkeypatch: pytest.MonkeyPatch) -> list[BaseException | int]:
    """Register a throwaway sub-command whose behaviour each test sets."""
    behaviour: list[BaseException | int] = []

    @click.command("fake")
    def fake() -> int:
        outcome = behaviour[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    import types
    module = types.ModuleType("runner.commands.fake")
    module.command = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "runner.commands.fake", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", "fake")
    return behaviour


@pytest.mark.parametrize("outcome,code", [
    (0, 0), (4, 4), (ConfigError("bad key 'x'"), 2), (GitLabError("502 after retries"), 5),
    (KeyboardInterrupt(), 130),
])
def test_exit_codes(fake_command: list[BaseException | int], outcome: BaseException | int,
                    code: int) -> None:
    fake_command.append(outcome)
    assert cli.main(["fake"]) == code


def test_unexpected_error_writes_masked_log(
        fake_command: list[BaseException | int], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-verysecret")
    fake_command.append(RuntimeError("boom glpat-verysecret"))
    assert cli.main(["fake"]) == ExitCode.INTERNAL
    text = (tmp_path / cli.ERROR_LOG).read_text()
    assert "RuntimeError" in text and "glpat-verysecret" not in text
    assert "glpat-verysecret" not in capsys.readouterr().err


def test_usage_error_is_2_and_unknown_command_is_2() -> None:
    assert cli.main(["no-such-command"]) == 2
    assert cli.main(["--no-such-flag"]) == 2


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert "ds-runner" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0
