from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from runner.build.hashing import collect_files, content_hash, parse_build_args
from runner.cli import main
from runner.errors import UsageError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "checkout-a"
    (root / "conf" / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_text("ARG BASE_IMAGE=python:3.11-slim\nFROM $BASE_IMAGE\n")
    (root / "requirements.txt").write_text("numpy==2.1.0\n")
    (root / "conf" / "a.cfg").write_text("a\n")
    (root / "conf" / "sub" / "b.bin").write_bytes(b"\0\r\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "x.ipynb").write_text("{}")
    return root


def test_tag_is_prefixed_sha256_prefix(repo: Path) -> None:
    result = content_hash(repo)
    assert len(result.digest) == 64
    assert result.tag == "deps-" + result.digest[:16]
    assert result.files == ("Dockerfile", "requirements.txt")


def test_independent_of_order_timestamps_modes_and_checkout_path(repo: Path,
                                                                 tmp_path: Path) -> None:
    first = content_hash(repo, ["conf", "notebooks/x.ipynb"])
    other = tmp_path / "elsewhere" / "checkout-b"
    shutil.copytree(repo, other)
    os.utime(other / "Dockerfile", (0, 0))
    (other / "requirements.txt").chmod(0o600)
    second = content_hash(other, ["notebooks/x.ipynb", "conf/sub/b.bin", "conf"])
    assert second == first
    assert first.files == ("Dockerfile", "conf/a.cfg", "conf/sub/b.bin", "notebooks/x.ipynb",
                           "requirements.txt")


@pytest.mark.parametrize("change", ["content", "rename", "new file in dir"])
def test_changes_change_the_tag(repo: Path, change: str) -> None:
    before = content_hash(repo, ["conf"]).tag
    if change == "content":
        (repo / "requirements.txt").write_text("numpy==2.1.1\n")
    elif change == "rename":
        (repo / "conf" / "a.cfg").rename(repo / "conf" / "c.cfg")
    else:
        (repo / "conf" / "sub" / "new.txt").write_text("")
    assert content_hash(repo, ["conf"]).tag != before


def test_crlf_text_is_normalised_but_binary_is_not(repo: Path) -> None:
    before = content_hash(repo, ["conf"])
    (repo / "requirements.txt").write_bytes(b"numpy==2.1.0\r\n")
    assert content_hash(repo, ["conf"]) == before
    (repo / "conf" / "sub" / "b.bin").write_bytes(b"\0\n")
    assert content_hash(repo, ["conf"]) != before


def test_build_args_are_hashed_order_free(repo: Path) -> None:
    plain = content_hash(repo).tag
    cpu = content_hash(repo, build_args={"BASE_IMAGE": "python:3.11-slim", "X": "1"})
    gpu = content_hash(repo, build_args={"X": "1", "BASE_IMAGE": "nvidia/cuda:12.4.1"})
    assert len({plain, cpu.tag, gpu.tag}) == 3
    assert cpu == content_hash(repo, build_args={"X": "1", "BASE_IMAGE": "python:3.11-slim"})


def test_skips_git_and_caches_in_directories(repo: Path) -> None:
    (repo / "conf" / "__pycache__").mkdir()
    (repo / "conf" / "__pycache__" / "m.pyc").write_bytes(b"x")
    assert "conf/__pycache__/m.pyc" not in collect_files(repo, ["conf"])


def test_missing_inputs_are_all_named(repo: Path) -> None:
    (repo / "requirements.txt").unlink()
    with pytest.raises(UsageError, match=r"not found: requirements.txt, missing.txt \("):
        content_hash(repo, ["conf", "missing.txt"])


def test_input_outside_repo_is_refused(repo: Path) -> None:
    (repo.parent / "outside.txt").write_text("x")
    with pytest.raises(UsageError, match="outside the repository"):
        content_hash(repo, ["../outside.txt"])


def test_parse_build_args() -> None:
    assert parse_build_args(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_build_args(["novalue"])


def test_cli_prints_tag_and_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hash", "--repo", str(repo), "-f", "conf"]) == 0
    tag = capsys.readouterr().out.strip()
    assert tag == content_hash(repo, ["conf"]).tag
    assert main(["hash", "--repo", str(repo), "-f", "conf", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tag"] == tag and "conf/a.cfg" in data["files"]


def test_cli_files_from_env_and_missing_file_exit_2(repo: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_HASH_FILES", "conf notebooks/x.ipynb")
    assert main(["hash", "--repo", str(repo)]) == 0
    assert capsys.readouterr().out.strip() == content_hash(repo, ["conf", "notebooks"]).tag
    assert main(["hash", "--repo", str(repo), "-f", "nope.txt"]) == 2
    assert "nope.txt" in capsys.readouterr().err
