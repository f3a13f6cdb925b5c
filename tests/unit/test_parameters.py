"""Parameters-cell inspection, coercion and injection: pure functions, no kernel."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
import pytest

from runner.errors import UsageError
from runner.execute.injection import inject_parameters, prepare_parameters
from runner.execute.parameters import Declared, coerce, declared_parameters, resolve


def notebook(*sources: str, tagged: int | None = 0) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    for index, cell in enumerate(nb.cells):
        cell.metadata["tags"] = ["parameters"] if index == tagged else []
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python"}
    return nb


PARAMS = notebook(
    "count = 3\nrate = 0.5\nflag = False\nname = 'x'\nlayers = [1, 2]\nopts = {'a': 1}\n"
    "pair = (1, 2)\nanything = None\nepochs: int = 10  # help text\nlimit: float = None\n"
    "path = os.environ.get('X', 'y')",
    "print(count)")


@pytest.fixture(scope="module")
def declared() -> dict[str, Declared]:
    found = declared_parameters(PARAMS, "python3", "python")
    assert found is not None
    return found


def test_declared_names_and_kinds(declared: dict[str, Declared]) -> None:
    kinds = {name: d.kind for name, d in declared.items()}
    assert kinds == {"count": int, "rate": float, "flag": bool, "name": str, "layers": list,
                     "opts": dict, "pair": tuple, "anything": None, "epochs": int,
                     "limit": float, "path": None}
    assert declared["limit"].optional and declared["anything"].optional
    assert not declared["count"].optional


def test_no_parameters_cell_is_none() -> None:
    assert declared_parameters(notebook("x = 1", tagged=None), "python3", "python") is None


@pytest.mark.parametrize("name, raw, expected", [
    ("count", "5", 5), ("count", " -7 ", -7), ("count", "1_000", 1000),
    ("rate", "1", 1.0), ("rate", "2.5e-3", 0.0025),
    ("flag", "true", True), ("flag", "Yes", True), ("flag", "0", False), ("flag", "OFF", False),
    ("name", "12", "12"), ("name", "", ""),
    ("layers", "[3, 4]", [3, 4]), ("layers", "[]", []), ("opts", "{b: 2}", {"b": 2}),
    ("pair", "[5, 6]", (5, 6)),
    ("anything", "7", 7), ("anything", "1.5", 1.5), ("anything", "True", True),
    ("anything", "None", None), ("anything", "text", "text"),
    ("epochs", "2", 2), ("limit", "none", None), ("limit", "3", 3.0),
    ("path", "/data", "/data"),
])
def test_coerce(declared: dict[str, Declared], name: str, raw: str, expected: Any) -> None:
    value = coerce(raw, declared[name], "nb.ipynb")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("name, raw, message", [
    ("count", "three", "expects an integer like its default 3"),
    ("count", "1.5", "expects an integer"),
    ("rate", "fast", "expects a number"),
    ("rate", "nan", "expects a number"),
    ("flag", "maybe", "expects a boolean"),
    ("layers", "3,4", r"expects a list \(YAML/JSON"),
    ("opts", "[1]", "expects a mapping"),
    ("layers", "[1, 2", "expects a list"),
    ("count", "None", "expects an integer"),
])
def test_coerce_rejects(declared: dict[str, Declared], name: str, raw: str,
                        message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        coerce(raw, declared[name], "nb.ipynb")
    assert f"nb.ipynb: parameter '{name}'" in str(info.value)


def test_resolve_rejects_unknown_names(declared: dict[str, Declared]) -> None:
    with pytest.raises(UsageError, match=r"unknown parameter 'bogus', 'zzz' \(the parameters "
                                         r"cell declares: anything, count"):
        resolve("nb.ipynb", declared, {"count": "1", "bogus": "2", "zzz": "3"})
    assert resolve("nb.ipynb", declared, {"count": "1"}) == {"count": 1}


def test_resolve_without_parameters_cell() -> None:
    assert resolve("nb.ipynb", None, {}) == {}
    with pytest.raises(UsageError, match="has no cell tagged 'parameters'"):
        resolve("nb.ipynb", None, {"x": "1"})


def test_prepare_parameters_guards(declared: dict[str, Declared]) -> None:
    with pytest.raises(UsageError, match="set by ds-runner; use --config"):
        prepare_parameters("nb", declared, {"config_path": "x"}, {})
    with pytest.raises(UsageError, match="given both as -p and --secret-parameter"):
        prepare_parameters("nb", declared, {"name": "a"}, {"name": "b"})
    values, secrets = prepare_parameters("nb", declared, {"count": "2"}, {"name": "s3cret!"})
    assert values == {"count": 2, "name": "s3cret!"} and secrets == {"name"}


def test_injection_goes_after_the_parameters_cell() -> None:
    nb = notebook("a = 1", "print(a)", tagged=0)
    inject_parameters(nb, "python3", "python", {"a": 2, "s": "x"})
    assert [c.metadata["tags"] for c in nb.cells] == [["parameters"], ["injected-parameters"],
                                                      []]
    assert "a = 2" in nb.cells[1].source and 's = "x"' in nb.cells[1].source
    inject_parameters(nb, "python3", "python", {"a": 3})  # replaces, never stacks
    assert len(nb.cells) == 3 and "a = 3" in nb.cells[1].source


def test_injection_without_parameters_cell_goes_first_and_drops_old_markers() -> None:
    nb = notebook("print(1)", tagged=None)
    marker = nbformat.v4.new_markdown_cell("old error")
    marker.metadata["tags"] = ["papermill-error-cell-tag"]
    nb.cells.insert(0, marker)
    inject_parameters(nb, "python3", "python", {"device": "cpu"})
    assert nb.cells[0].metadata["tags"] == ["injected-parameters"]
    assert len(nb.cells) == 2


def test_language_papermill_cannot_inspect_takes_parameters_unchecked(
        caplog: pytest.LogCaptureFixture) -> None:
    """An R notebook: papermill has an R translator but cannot read its parameters cell, so
    -p values pass through (converted as ``papermill -p`` does) instead of all being unknown."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('alpha <- 0.5\nlabel <- "x"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "ir", "language": "R", "display_name": "R"}
    declared = declared_parameters(nb, "ir", "R")
    assert declared is not None
    with caplog.at_level("WARNING", logger="runner.execute.parameters"):
        got = resolve("nb.ipynb", declared, {"alpha": "0.9", "label": "y", "n": "3"})
    assert got == {"alpha": 0.9, "label": "y", "n": 3}
    assert "cannot be checked" in caplog.text



# --- parameter files (-f) and YAML strings (-y) -------------------------------------------------

def test_parameter_sources_merge_in_papermills_order(tmp_path: Path) -> None:
    from runner.config import parameter_values

    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("count: 1\nname: a\nrate: 1\nday: 2024-01-02\n", encoding="utf-8")
    second.write_text("count: 2\nname: b\n", encoding="utf-8")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    values = parameter_values([first, second, tmp_path / "empty.yaml"],
                              ["{count: 3, flag: yes}", "count: 4"], [("count", "5")])
    # -p over -y over -f, later over earlier; YAML types kept, dates stay text as in papermill
    assert values == {"count": "5", "name": "b", "rate": 1, "day": "2024-01-02", "flag": True}
    assert parameter_values([first], ["{count: 3}"], [])["count"] == 3
    assert parameter_values([first, second], [], [])["count"] == 2


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "params.yaml: parameters file not found"),
    ("count: [1,\n", "params.yaml: invalid YAML at line 2, column 1"),
    ("- 1\n- 2\n", "params.yaml: top level must be a mapping, got list"),
    ("1: one\n", "parameter names must be strings, got 1"),
    (b"count: \xff\n", "params.yaml: cannot read parameters file: not UTF-8 text"),
])
def test_bad_parameter_files_are_usage_errors(tmp_path: Path, content: str | bytes | None,
                                              fragment: str) -> None:
    from runner.config import parameter_values

    path = tmp_path / "params.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        parameter_values([path], [], [])
    assert fragment in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize(("text", "fragment"), [
    ("{count: 1", "--parameters-yaml '{count: 1': invalid YAML"),
    ("just text", "--parameters-yaml 'just text': top level must be a mapping, got str"),
])
def test_bad_parameter_yaml_is_a_usage_error(text: str, fragment: str) -> None:
    from runner.config import parameter_values

    with pytest.raises(UsageError, match=fragment):
        parameter_values([], [text], [])


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("count", 5, 5), ("count", "5", 5), ("rate", 1, 1.0), ("flag", True, True),
    ("flag", "no", False), ("name", 12, "12"), ("layers", [3, 4], [3, 4]),
    ("pair", [3, 4], (3, 4)), ("opts", {"b": 2}, {"b": 2}), ("anything", [1], [1]),
    ("limit", None, None), ("epochs", 7, 7), ("path", {"k": 1}, {"k": 1}),
])
def test_yaml_values_are_coerced_like_p_values(declared: dict[str, Declared], name: str,
                                               value: Any, expected: Any) -> None:
    got = coerce(value, declared[name], "nb.ipynb")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("count", 1.5, "expects an integer like its default 3, got '1.5'"),
    ("count", [1], "expects an integer like its default 3, got [1]"),
    ("count", None, "expects an integer"),
    ("flag", 2, "expects a boolean"),
    ("name", ["a"], "expects a string like its default 'x', got ['a']"),
    ("layers", {"a": 1}, "expects a list"),
    ("opts", [1], "expects a mapping"),
    ("rate", float("inf"), "expects a number"),
])
def test_yaml_values_of_the_wrong_type_are_refused(declared: dict[str, Declared], name: str,
                                                   value: Any, fragment: str) -> None:
    with pytest.raises(UsageError, match=re.escape(fragment)):
        coerce(value, declared[name], "nb.ipynb")


def test_yaml_values_pass_unchecked_languages_as_they_are() -> None:
    nb = notebook("count <- 3")
    nb.metadata["kernelspec"] = {"name": "ir", "language": "R"}
    declared = declared_parameters(nb, "ir", "R")
    assert resolve("nb.ipynb", declared, {"count": [1, 2], "n": "5"}) == {"count": [1, 2],
                                                                          "n": 5}
