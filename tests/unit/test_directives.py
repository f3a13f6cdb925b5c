from __future__ import annotations

import time

import pytest

from runner.detect.directives import Directives, check_present, combine, parse, parse_list
from runner.errors import DirectiveError, UsageError

NB = "notebooks/a.ipynb"


@pytest.mark.parametrize("message,paths", [
    ("", []),
    ("plain message without directives", []),
    (f"train [run {NB}]", [NB]),
    (f"[run {NB}]\n\nbody [run notebooks/b.ipynb]", [NB, "notebooks/b.ipynb"]),
    ("[run notebooks/z.ipynb] [run notebooks/a.ipynb]", ["notebooks/z.ipynb", NB]),  # order kept
    (f"[run {NB}] [run {NB}] [run ./{NB}]", [NB]),  # duplicates, also after normalising
    (f"[  run   {NB}   ]", [NB]),
    (f"[\trun\t{NB}\t]", [NB]),
    (f"[RUN {NB}] [Run notebooks/b.ipynb]", [NB, "notebooks/b.ipynb"]),  # keyword any case
    ("[run notebooks/My Notebook.ipynb]", ["notebooks/My Notebook.ipynb"]),  # inner spaces kept
    ("[run notebooks/données/é.ipynb]", ["notebooks/données/é.ipynb"]),  # unicode paths
    ("[run notebooks/x/../a.ipynb]", [NB]),  # stays inside the repository
    ("[run top.ipynb]", ["top.ipynb"]),
    (f"[run {NB}](https://example.com)", [NB]),  # markdown link syntax still counts
    ("[running tests] [runx a.ipynb] [run:a.ipynb] [skip-run] [WIP]", []),  # not directives
    ("[skip ci] [ci skip]", []),  # GitLab's own; not ours
    ("[run notebooks/A.IPYNB.ipynb]", ["notebooks/A.IPYNB.ipynb"]),
])
def test_run_paths(message: str, paths: list[str]) -> None:
    d = parse(message)
    assert d.paths == paths
    assert not d.skip


@pytest.mark.parametrize("message", [
    "[skip run]", "[skip  run]", "[ skip run ]", "[SKIP RUN]", "[Skip Run]", "[\tskip\trun\t]",
    "fix typo\n\nlong body\n[skip run]",
])
def test_skip_variants(message: str) -> None:
    d = parse(message)
    assert d.skip and d.paths == []
    assert d.skip_text.lower().replace(" ", "").replace("\t", "") == "[skiprun]"


@pytest.mark.parametrize("message", [
    "[skiprun]", "[skip run now]", "[skip ci]", "[skip\nrun]", "[skip runs]", "skip run",
])
def test_not_skip(message: str) -> None:
    assert not parse(message).skip


def test_skip_wins_over_run_and_over_bad_directives() -> None:
    d = parse(f"[run {NB}] [run ../../etc/passwd] [skip run] [run unclosed")
    assert d.skip
    assert d.paths == [NB]  # recorded, but they do not run
    assert len(d.ignored_errors) == 2
    check_present(d, {})  # nothing is checked when skipping


@pytest.mark.parametrize("message,fragment", [
    ("[run]", "no notebook path"),
    ("[run   ]", "no notebook path"),
    ("[run ../x.ipynb]", "outside the repository"),
    ("[run notebooks/../../x.ipynb]", "outside the repository"),
    ("[run ..]", "outside the repository"),
    ("[run /etc/x.ipynb]", "relative to the repository root"),
    ("[run //server/x.ipynb]", "relative to the repository root"),
    ("[run notebooks\\a.ipynb]", "forward slashes"),
    ("[run notebooks/a.py]", "must end in .ipynb"),
    ("[run notebooks/]", "must end in .ipynb"),
    ("[run notebooks/.ipynb]", "must end in .ipynb"),
    ("[run notebooks/a.ipynb.bak]", "must end in .ipynb"),
    ("[run skip]", "did you mean [skip run]"),
    ("[run notebooks/a\x00.ipynb]", "U+0000"),
    ("[run notebooks/a\x1b[31m.ipynb]", "not closed"),  # the '[' of the escape code stops it
    ("[run notebooks/a\x1b.ipynb]", "U+001B"),
    ("[run notebooks/a\x7f.ipynb]", "U+007F"),
    ("[run notebooks/a\u202e.ipynb]", "U+202E"),  # right-to-left override
    ("[run notebooks/a\u200b.ipynb]", "U+200B"),  # zero-width space
    ("[run notebooks/a\udcff.ipynb]", "U+DCFF"),  # undecodable byte from the environment
    ("[run notebooks/a\tb.ipynb]", "U+0009"),  # a tab inside the path
    (f"[run {NB}", "not closed"),
    (f"[run {NB}\n]", "not closed"),
    ("[run\nnotebooks/a.ipynb]", "not closed"),
    (f"[run [run {NB}]]", "another '['"),
    ("[run notebooks/a[1].ipynb]", "another '['"),
    ("[run " + "a/" * 2100 + "x.ipynb]", "longer than 4096 bytes"),
])
def test_bad_directives(message: str, fragment: str) -> None:
    with pytest.raises(DirectiveError) as info:
        parse(message)
    text = str(info.value)
    assert fragment in text
    assert text.startswith("bad directive [")
    assert "\n" not in text and len(text) < 400  # one bounded line


def test_error_is_a_usage_error_with_exit_code_2() -> None:
    with pytest.raises(UsageError) as info:
        parse("[run ../x.ipynb]")
    assert info.value.exit_code == 2


def test_first_bad_directive_is_reported_after_good_ones() -> None:
    with pytest.raises(DirectiveError, match=r"\[run nope\.txt\]"):
        parse(f"[run {NB}] [run nope.txt] [run ../x.ipynb]")


def test_error_message_escapes_control_characters() -> None:
    with pytest.raises(DirectiveError) as info:
        parse("[run a\x07b.ipynb]")
    assert "\x07" not in str(info.value) and "\\x07" in str(info.value)


@pytest.mark.parametrize("message", [
    "[" * 200_000,
    "[run " * 100_000 + "]",
    "[ " * 100_000,
    "[skip " + " " * 200_000 + "x]",
    "]" * 200_000 + "[run notebooks/a.ipynb]",
    "x" * 1_000_000 + f" [run {NB}]",
    f"[run {NB}] " * 50_000,
    "[skip run]" + "[run ../x " * 100_000,
])
def test_hostile_messages_are_fast(message: str) -> None:
    started = time.perf_counter()
    try:
        d = parse(message)
    except DirectiveError as e:
        assert len(str(e)) < 400
    else:
        assert d.paths in ([], [NB])
    assert time.perf_counter() - started < 2.0


def test_check_present_names_the_directive() -> None:
    d = parse(f"[run {NB}] [ run notebooks/gone.ipynb ]")
    check_present(d, {NB: "blob", "notebooks/gone.ipynb": "blob"})
    with pytest.raises(DirectiveError, match=r"^bad directive \[ run notebooks/gone\.ipynb \]: "
                                              r"no such file at this commit$"):
        check_present(d, {NB: "blob"})
    with pytest.raises(DirectiveError, match="is a directory"):
        check_present(d, {NB: "tree"})
    with pytest.raises(DirectiveError, match="submodule"):
        check_present(d, {NB: "commit"})


def test_directives_value_object() -> None:
    assert parse("nothing") == Directives()


@pytest.mark.parametrize(("value", "paths"), [
    ("", []),
    (" , ", []),
    (f"{NB}", [NB]),
    (f"{NB} notebooks/b.ipynb", [NB, "notebooks/b.ipynb"]),
    (f"notebooks/b.ipynb,{NB}", ["notebooks/b.ipynb", NB]),  # order kept
    (f" ./{NB} ,\n{NB}\tnotebooks/x/../b.ipynb ", [NB, "notebooks/b.ipynb"]),
])
def test_run_notebooks_list(value: str, paths: list[str]) -> None:
    found = parse_list(value)
    assert found.paths == paths and not found.skip
    assert all(d.origin == "DS_RUN_NOTEBOOKS" for d in found.run)


@pytest.mark.parametrize(("value", "fragment"), [
    ("notebooks/a.py", "bad DS_RUN_NOTEBOOKS entry 'notebooks/a.py': not a notebook"),
    ("/abs.ipynb", "relative to the repository root"),
    (f"{NB} ../up.ipynb", "bad DS_RUN_NOTEBOOKS entry '../up.ipynb': the path points outside"),
    ("a\u200b.ipynb", "control character U+200B"),
])
def test_run_notebooks_list_errors(value: str, fragment: str) -> None:
    with pytest.raises(DirectiveError) as info:
        parse_list(value)
    assert fragment in str(info.value) and info.value.exit_code == 2


def test_combine_keeps_message_order_and_skip() -> None:
    both = combine(parse(f"[run notebooks/b.ipynb] [run {NB}]"),
                   parse_list(f"{NB} notebooks/c.ipynb"))
    assert both.paths == ["notebooks/b.ipynb", NB, "notebooks/c.ipynb"]
    assert combine(parse("[skip run]"), parse_list(NB)).skip
    with pytest.raises(DirectiveError) as info:
        check_present(both, {"notebooks/b.ipynb": "blob", NB: "blob", "notebooks/c.ipynb": "tree"})
    assert str(info.value) == ("bad DS_RUN_NOTEBOOKS entry 'notebooks/c.ipynb': "
                               "it is a directory")
