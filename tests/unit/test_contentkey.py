"""The content key changes exactly when a run's inputs do: the notebook, its config, a declared
data input, the image tag or the runner version; and not for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.detect.contentkey import content_key, declared_inputs, image_of
from runner.errors import ConfigError

NB = "notebooks/train.ipynb"


def notebook(inputs: object = None, source: str = "x = 1") -> str:
    meta: dict[str, object] = {"kernelspec": {"name": "python3", "language": "python"}}
    if inputs is not None:
        meta["ds_runner"] = {"inputs": inputs}
    return json.dumps({"cells": [{"cell_type": "code", "source": source, "metadata": {},
                                  "outputs": [], "execution_count": None}],
                       "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / NB).write_text(notebook(["data/*.csv", "refs"]))
    (tmp_path / "training_config.yaml").write_text("seed: 1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "data" / "notes.txt").write_text("not declared\n")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "labels.json").write_text("{}")
    (tmp_path / "README.md").write_text("unrelated\n")
    return tmp_path


def key(repo: Path, image: str = "deps-abc", version: str = "0.1.0") -> str:
    return content_key(repo, NB, image=image, runner_version=version).key


def test_the_key_names_what_went_in(repo: Path) -> None:
    got = content_key(repo, NB, image="deps-abc", runner_version="0.1.0")
    assert got.key.startswith("ck1-") and len(got.key) == 4 + 64
    assert got.config == "training_config.yaml"
    assert got.inputs == ("data/train.csv", "refs/labels.json")


@pytest.mark.parametrize("change", [
    lambda r: (r / NB).write_text(notebook(["data/*.csv", "refs"], "x = 2")),
    lambda r: (r / "training_config.yaml").write_text("seed: 2\n"),
    lambda r: (r / "training_config.yaml").unlink(),
    lambda r: (r / "data" / "train.csv").write_text("a,b\n1,3\n"),
    lambda r: (r / "data" / "test.csv").write_text("a,b\n"),
    lambda r: (r / "refs" / "labels.json").rename(r / "refs" / "names.json"),
    lambda r: (r / NB).write_text(notebook(["data/*.csv"])),
], ids=["notebook", "config", "config-removed", "data-input", "new-input", "renamed-input",
        "declared-globs"])
def test_the_key_changes_with_each_input(repo: Path, change: object) -> None:
    before = key(repo)
    change(repo)  # type: ignore[operator]
    assert key(repo) != before


def test_the_key_changes_with_image_and_runner_version(repo: Path) -> None:
    assert len({key(repo), key(repo, image="deps-def"), key(repo, version="0.2.0")}) == 3


def test_the_key_is_stable_otherwise(repo: Path, tmp_path_factory: pytest.TempPathFactory
                                     ) -> None:
    before = key(repo)
    (repo / "README.md").write_text("changed\n")
    (repo / "data" / "notes.txt").write_text("changed too\n")
    (repo / ".ds-runner" / "notebooks").mkdir(parents=True)
    (repo / ".ds-runner" / "notebooks" / "out.csv").write_text("outputs\n")
    assert key(repo) == before
    # CRLF checkouts and another location give the same key
    other = tmp_path_factory.mktemp("clone")
    for path in repo.rglob("*"):
        if path.is_file() and ".ds-runner" not in path.parts:
            target = other / path.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert key(other) == before


def test_a_bad_declaration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="list of globs"):
        declared_inputs({"ds_runner": {"inputs": [1]}}, NB)
    with pytest.raises(ConfigError, match="inside the repository"):
        declared_inputs({"ds_runner": {"inputs": ["../secrets/*"]}}, NB)
    assert declared_inputs({"ds_runner": {"inputs": "data/x.csv"}}, NB) == ["data/x.csv"]


def test_the_image_is_the_content_hash_tag_else_the_image() -> None:
    assert image_of({"DS_IMAGE_TAG": "deps-1", "DS_IMAGE": "reg/img:deps-1"}) == "deps-1"
    assert image_of({"DS_IMAGE_TAG": "$DS_IMAGE_TAG", "DS_IMAGE": "python:3.12"}) == "python:3.12"
    assert image_of({}) == ""


def test_one_config_file_gives_one_key_however_its_path_is_written(repo: Path) -> None:
    """detect takes the config from the notebook's metadata as written, execute from the
    resolved path: both must name the same run."""
    keys = {content_key(repo, NB, config=name, image="deps-abc", runner_version="0.1.0").key
            for name in ("training_config.yaml", "./training_config.yaml",
                         "notebooks/../training_config.yaml")}
    assert len(keys) == 1
