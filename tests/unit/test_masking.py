from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import nbformat
import pytest

from runner.masking import MASK, Masker, MaskingFilter, secret_values_from_env


def test_secret_looking_names_are_collected() -> None:
    env = {"GITLAB_TOKEN": "glpat-abcdef123", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
           "DB_PASSWORD": "hunter22", "API_KEY": "key-123456", "MY_CREDENTIALS": "creds-99999",
           "HOME": "/root", "PATH": "/usr/bin"}
    assert sorted(secret_values_from_env(env)) == sorted(
        ["glpat-abcdef123", "s3cr3t-value", "hunter22", "key-123456", "creds-99999"])


def test_mask_replaces_every_occurrence_longest_first() -> None:
    masker = Masker(["abcdef", "abcdefgh"])
    assert masker.mask("x abcdefgh y abcdef z") == f"x {MASK} y {MASK} z"


def test_short_and_boolean_values_are_not_masked() -> None:
    masker = Masker(["1", "true", "abc", "False"])
    assert not masker
    assert masker.mask("true 1 abc") == "true 1 abc"


def test_json_escaped_form_is_masked_too() -> None:
    masker = Masker(['pa"ss\\word'])
    assert MASK in masker.mask('{"v": "pa\\"ss\\\\word"}')


def test_mask_obj_masks_values_and_keys_only_when_asked() -> None:
    masker = Masker(["topsecret"])
    data = {"a": ["x topsecret", {"topsecret": 1}], "b": 2.5}
    assert masker.mask_obj(data, keys=True) == {"a": [f"x {MASK}", {MASK: 1}], "b": 2.5}
    assert masker.mask_obj(data) == {"a": [f"x {MASK}", {"topsecret": 1}], "b": 2.5}


def test_logging_filter_masks_formatted_message(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("runner.test_masking")
    handler_filter = MaskingFilter(Masker(["glpat-SECRET1"]))
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="runner.test_masking"):
            logger.info("token is %s", "glpat-SECRET1")
    finally:
        logger.removeFilter(handler_filter)
    assert "glpat-SECRET1" not in caplog.text
    assert MASK in caplog.text


def test_repr_and_json_forms_of_every_secret_are_masked() -> None:
    secret = 'pa"ss\\word1'
    masker = Masker.from_env(environ={"DB_PASSWORD": secret})
    assert masker.mask(f"KeyError: {secret!r}") == f"KeyError: '{MASK}'"
    assert masker.mask(json.dumps({"v": secret})) == f'{{"v": "{MASK}"}}'
    assert masker.mask(repr(f"it's {secret}")) == "'it\\'s " + MASK + "'"


def test_mask_notebook_keeps_structure_when_a_secret_is_a_field_name() -> None:
    words = ["outputs", "status", "source", "stdout", "markdown", "parameters", "python3",
             "execute_result", "text/plain", "image/png"]
    masker = Masker(words)
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "papermill": {"parameters": {"a": "outputs"}}})
    md = nbformat.v4.new_markdown_cell("markdown about outputs")
    code = nbformat.v4.new_code_cell("print('status')", execution_count=1)
    code.metadata["tags"] = ["parameters", "injected-parameters"]
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="status: outputs\n"),
        nbformat.v4.new_output("execute_result", execution_count=1,
                               data={"text/plain": "'status'", "image/png": "aW1hZ2UvcG5n",
                                     "application/json": {"outputs": ["status"]}}),
    ]
    nb.cells = [md, code]
    masked = masker.mask_notebook(nb)
    nbformat.validate(nbformat.from_dict(masked))
    cell = masked["cells"][1]
    assert masked["cells"][0]["cell_type"] == "markdown"
    assert masked["cells"][0]["source"] == f"{MASK} about {MASK}"
    assert masked["metadata"]["kernelspec"]["name"] == "python3"
    assert masked["metadata"]["papermill"]["parameters"] == {"a": MASK}
    assert cell["metadata"]["tags"] == ["parameters", "injected-parameters"]
    assert cell["outputs"][0]["name"] == "stdout"
    assert cell["outputs"][0]["text"] == f"{MASK}: {MASK}\n"
    data = cell["outputs"][1]["data"]
    assert data["text/plain"] == f"'{MASK}'" and data["image/png"] == "aW1hZ2UvcG5n"
    assert data["application/json"] == {MASK: [MASK]}  # JSON output is content, keys included


def test_masker_never_masks_its_own_mask() -> None:
    masker = Masker(["MASKED", "[MASKED]"])
    assert not masker
    assert masker.mask(MASK) == MASK


SECRET = "s3cr3t-Value-42"


def test_sweep_masks_text_files_and_names_binary_ones(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "sub").mkdir()
    text = tmp_path / "sub" / "notes.txt"
    text.write_text(f"token={SECRET}\n{json.dumps({'t': SECRET})}\n", encoding="utf-8")
    text.chmod(0o640)
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01" + SECRET.encode() + b"\xff")
    clean = tmp_path / "clean.bin"
    clean.write_bytes(b"\x00\x01\xff")
    with caplog.at_level(logging.WARNING, logger="runner.masking"):
        left = Masker([SECRET]).sweep([tmp_path])
    assert text.read_text(encoding="utf-8") == f'token={MASK}\n{{"t": "{MASK}"}}\n'
    assert stat.S_IMODE(text.stat().st_mode) == 0o640
    assert left == [binary]
    assert str(binary) in caplog.text and str(clean) not in caplog.text
    assert binary.read_bytes() == b"\x00\x01" + SECRET.encode() + b"\xff"  # not rewritten
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["clean.bin", "model.bin",
                                                           "notes.txt", "sub"]


def test_sweep_only_searches_files_over_the_text_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import runner.masking

    monkeypatch.setattr(runner.masking, "TEXT_LIMIT", 1000)
    monkeypatch.setattr(runner.masking, "_CHUNK", 64)  # the secret straddles a chunk boundary
    big = tmp_path / "big.log"
    big.write_text("x" * 1500 + SECRET + "y" * 100, encoding="utf-8")
    small = tmp_path / "small.log"
    small.write_text(SECRET, encoding="utf-8")
    assert Masker([SECRET]).sweep([tmp_path]) == [big]
    assert small.read_text(encoding="utf-8") == MASK


def test_sweep_skips_excluded_paths_and_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET, encoding="utf-8")
    root = tmp_path / "root"
    (root / "other").mkdir(parents=True)
    (root / "link.txt").symlink_to(outside)
    (root / "other" / "kept.txt").write_text(SECRET, encoding="utf-8")
    (root / "own.json").write_text(json.dumps({SECRET: 1}), encoding="utf-8")
    assert Masker([SECRET]).sweep([root], exclude={root / "other", root / "own.json"}) == []
    assert outside.read_text(encoding="utf-8") == SECRET
    assert (root / "other" / "kept.txt").read_text(encoding="utf-8") == SECRET
    assert SECRET in (root / "own.json").read_text(encoding="utf-8")


def test_sweep_without_secrets_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain", encoding="utf-8")
    assert Masker(["short"]).sweep([tmp_path]) == []


def test_records_and_result_keep_their_structure(tmp_path: Path) -> None:
    from runner.metrics import CellError, RunResult, mask_records, read_records

    masker = Masker(["metric", "status", "figures/roc.png", SECRET])
    (tmp_path / "records.jsonl").write_text(
        json.dumps({"kind": "metric", "name": "auc", "value": 0.9}) + "\n"
        + json.dumps({"kind": "figure", "name": "roc", "path": "figures/roc.png"}) + "\n"
        + json.dumps({"kind": "info", "name": "url", "value": f"x?t={SECRET}"}) + "\n"
        + '{"kind": "info", "name": "torn", "value": "' + SECRET, encoding="utf-8")
    mask_records(tmp_path, masker)
    recorded = read_records(tmp_path)
    assert recorded.metrics == {"auc": 0.9}
    assert recorded.figures == {"roc": "figures/roc.png"}
    assert recorded.info == {"url": f"x?t={MASK}"}
    assert SECRET not in (tmp_path / "records.jsonl").read_text(encoding="utf-8")

    result = RunResult("nb/status.ipynb", "success", metrics={SECRET: 1.0},
                       figures={"roc": "figures/roc.png"}, info={"url": SECRET},
                       parameters={"p": {SECRET: [SECRET]}, "status": "status"},
                       error=CellError(1, "KeyError", repr(SECRET)))
    masked = RunResult.from_dict(json.loads(json.dumps(result.masked(masker).to_dict())))
    assert (masked.notebook, masked.status) == ("nb/status.ipynb", "success")
    assert masked.figures == {"roc": "figures/roc.png"}
    assert masked.metrics == {MASK: 1.0} and masked.info == {"url": MASK}
    assert masked.parameters == {"p": {MASK: [MASK]}, "status": MASK}
    assert masked.error == CellError(1, "KeyError", f"'{MASK}'")


def test_sweep_since_reads_files_changed_since_even_with_an_old_mtime(tmp_path: Path) -> None:
    import os
    import time

    copied = tmp_path / "copied.txt"  # as shutil.copy2 leaves it: old mtime, new ctime
    copied.write_text(SECRET, encoding="utf-8")
    os.utime(copied, (0, 0))
    assert Masker([SECRET]).sweep([tmp_path], since=time.time() - 60) == []
    assert copied.read_text(encoding="utf-8") == MASK

    copied.write_text(SECRET, encoding="utf-8")
    assert Masker([SECRET]).sweep([tmp_path], since=time.time() + 3600) == []
    assert copied.read_text(encoding="utf-8") == SECRET  # older than since: not read
