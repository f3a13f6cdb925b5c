from __future__ import annotations

from pathlib import Path

import pytest

from runner.detect.changes import DetectContext, Detection, detect
from runner.errors import DirectiveError, UsageError
from tests.git_helpers import ZERO_SHA, Repo, clone


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """main: root commit with two notebooks, a README and a script."""
    r = Repo(tmp_path / "origin")
    r.commit("root", {"notebooks/train.ipynb": "t1", "notebooks/sub/infer.ipynb": "i1",
                      "README.md": "hello\n", "src/util.py": "x = 1\n"})
    return r


def run(r: Repo, **kwargs: str) -> Detection:
    return detect(r.path, DetectContext(**kwargs))


def test_push_lists_added_and_modified_notebooks_only(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("work", {"notebooks/train.ipynb": "t2", "notebooks/new.ipynb": "n1",
                               "README.md": "changed\n", "other/outside.ipynb": "o1",
                               "notebooks/data.csv": "a,b\n"})
    d = run(repo, before_sha=before, commit_sha=sha)
    assert d.notebooks == ["notebooks/new.ipynb", "notebooks/train.ipynb"]
    assert (d.skip, d.source, d.base, d.base_sha, d.commit_sha) == (
        False, "push", "CI_COMMIT_BEFORE_SHA", before, sha)
    assert "2 notebook(s)" in d.reason and before[:8] in d.reason


def test_push_over_several_commits_and_no_change(repo: Repo) -> None:
    before = repo.head()
    repo.commit("one", {"notebooks/a.ipynb": "a1"})
    repo.commit("two", {"README.md": "only docs\n"})
    sha = repo.commit("three", {"notebooks/sub/infer.ipynb": "i2"})
    assert run(repo, before_sha=before, commit_sha=sha).notebooks == [
        "notebooks/a.ipynb", "notebooks/sub/infer.ipynb"]
    docs_only = repo.commit("docs", {"README.md": "more docs\n"})
    d = run(repo, before_sha=sha, commit_sha=docs_only)
    assert d.notebooks == [] and not d.skip and d.reason.startswith("no notebook matching")


def test_deleted_notebooks_never_run(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("rm", {"notebooks/train.ipynb": None, "notebooks/sub/infer.ipynb": "i2"})
    d = run(repo, before_sha=before, commit_sha=sha)
    assert d.notebooks == ["notebooks/sub/infer.ipynb"]
    assert d.deleted == ["notebooks/train.ipynb"]
    assert "1 deleted (not run)" in d.reason


def test_renames_count_as_the_new_path(repo: Repo) -> None:
    before = repo.head()
    repo.write({"scratch/moved_in.ipynb": "m1"})
    repo.commit("add outside the glob")
    sha = repo.commit("renames", renames=[("notebooks/train.ipynb", "notebooks/v2/train.ipynb"),
                                          ("scratch/moved_in.ipynb", "notebooks/moved_in.ipynb"),
                                          ("notebooks/sub/infer.ipynb", "archive/infer.ipynb")])
    d = run(repo, before_sha=before, commit_sha=sha)
    assert d.notebooks == ["notebooks/moved_in.ipynb", "notebooks/v2/train.ipynb"]
    assert ["notebooks/train.ipynb", "notebooks/v2/train.ipynb"] in d.renamed
    assert d.deleted == ["notebooks/sub/infer.ipynb"]  # moved out of the glob


def test_rename_to_a_non_notebook_is_a_delete(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("to py", renames=[("notebooks/train.ipynb", "notebooks/train.py")])
    d = run(repo, before_sha=before, commit_sha=sha)
    assert d.notebooks == [] and d.deleted == ["notebooks/train.ipynb"]


def test_paths_with_spaces_unicode_and_quotes(repo: Repo) -> None:
    before = repo.head()
    names = ["notebooks/my notebook.ipynb", "notebooks/données/é.ipynb",
             "notebooks/it's \"quoted\".ipynb", "notebooks/-dash.ipynb"]
    sha = repo.commit("odd names", dict.fromkeys(names, "x"))
    assert run(repo, before_sha=before, commit_sha=sha).notebooks == sorted(names)


def test_control_character_in_a_changed_path_fails(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("evil", {"notebooks/evil\nname.ipynb": "e"})
    with pytest.raises(UsageError, match="control character"):
        run(repo, before_sha=before, commit_sha=sha)


def test_merge_request_uses_the_diff_base(repo: Repo) -> None:
    base = repo.head()
    repo.branch("feature")
    repo.commit("f1", {"notebooks/feature.ipynb": "f1"})
    head = repo.commit("f2", {"notebooks/sub/infer.ipynb": "i2"})
    repo.checkout("main")
    repo.commit("main moves on", {"notebooks/train.ipynb": "t-main"})
    d = run(repo, pipeline_source="merge_request_event", mr_diff_base_sha=base, commit_sha=head,
            before_sha=ZERO_SHA)
    assert d.notebooks == ["notebooks/feature.ipynb", "notebooks/sub/infer.ipynb"]
    assert (d.source, d.base, d.base_sha) == (
        "merge_request_event", "CI_MERGE_REQUEST_DIFF_BASE_SHA", base)


def test_merge_request_without_diff_base_falls_back_to_merge_base(repo: Repo) -> None:
    repo.branch("feature")
    head = repo.commit("f1", {"notebooks/feature.ipynb": "f1"})
    d = run(repo, pipeline_source="merge_request_event", commit_sha=head)
    assert d.notebooks == ["notebooks/feature.ipynb"]
    assert d.base == "merge-base main" and "is not set" in d.reason


def test_new_branch_zeros_uses_merge_base_with_origin_default(repo: Repo,
                                                            tmp_path: Path) -> None:
    repo.commit("main later", {"notebooks/train.ipynb": "t2"})
    work = clone(repo, tmp_path / "clone")
    work.branch("feature")
    work.commit("f1", {"notebooks/a.ipynb": "a1"})
    head = work.commit("f2", {"notebooks/b.ipynb": "b1"})
    d = run(work, before_sha=ZERO_SHA, commit_sha=head)
    assert d.notebooks == ["notebooks/a.ipynb", "notebooks/b.ipynb"]  # the whole branch
    assert d.base == "merge-base origin/main" and "all zeros" in d.reason


def test_new_branch_zeros_uses_local_default_branch_without_origin(repo: Repo) -> None:
    repo.branch("feature")
    repo.commit("f1", {"notebooks/a.ipynb": "a1"})
    head = repo.commit("f2", {"notebooks/b.ipynb": "b1"})
    d = run(repo, before_sha=ZERO_SHA, commit_sha=head)
    assert d.notebooks == ["notebooks/a.ipynb", "notebooks/b.ipynb"]
    assert d.base == "merge-base main"


def test_zeros_on_the_default_branch_uses_the_commit_itself(repo: Repo) -> None:
    repo.commit("older", {"notebooks/older.ipynb": "o"})
    head = repo.commit("last", {"notebooks/last.ipynb": "l"})
    d = run(repo, before_sha=ZERO_SHA, commit_sha=head)
    assert d.notebooks == ["notebooks/last.ipynb"]
    assert d.base == "parent" and "it is on main" in d.reason


def test_zeros_without_any_default_branch_uses_the_commit_itself(repo: Repo) -> None:
    repo.branch("feature")
    repo.commit("f1", {"notebooks/a.ipynb": "a1"})
    head = repo.commit("f2", {"notebooks/b.ipynb": "b1"})
    d = run(repo, before_sha=ZERO_SHA, commit_sha=head, default_branch="trunk")
    assert d.notebooks == ["notebooks/b.ipynb"]
    assert d.base == "parent" and "no merge base with trunk" in d.reason


def test_force_push_with_unknown_before_sha(repo: Repo) -> None:
    repo.branch("feature")
    head = repo.commit("f1", {"notebooks/a.ipynb": "a1"})
    d = run(repo, before_sha="1234567" * 5 + "89abc", commit_sha=head)
    assert d.notebooks == ["notebooks/a.ipynb"]
    assert "is not in this clone" in d.reason


def test_force_push_with_rewritten_history_still_present(repo: Repo) -> None:
    old = repo.commit("old tip", {"notebooks/old.ipynb": "o"})
    repo.git("reset", "-q", "--hard", "HEAD~1")
    head = repo.commit("new tip", {"notebooks/new.ipynb": "n"})
    d = run(repo, before_sha=old, commit_sha=head)
    assert d.notebooks == ["notebooks/new.ipynb"] and d.deleted == ["notebooks/old.ipynb"]


def test_root_commit_runs_all_its_notebooks(repo: Repo) -> None:
    d = run(repo, before_sha=ZERO_SHA)
    assert d.notebooks == ["notebooks/sub/infer.ipynb", "notebooks/train.ipynb"]
    assert d.base == "root" and d.base_sha == ""


def test_merge_commit_compares_with_its_first_parent(repo: Repo) -> None:
    repo.branch("feature")
    repo.commit("f1", {"notebooks/feature.ipynb": "f"})
    repo.checkout("main")
    before = repo.commit("main change", {"notebooks/train.ipynb": "t2"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = repo.head()
    assert run(repo, before_sha=before, commit_sha=merge).notebooks == ["notebooks/feature.ipynb"]
    d = run(repo, before_sha=ZERO_SHA, commit_sha=merge)
    assert d.notebooks == ["notebooks/feature.ipynb"] and d.base == "parent"


def test_shallow_clone_depth_one_cannot_know_and_runs_nothing(repo: Repo,
                                                              tmp_path: Path) -> None:
    before = repo.head()
    repo.commit("change", {"notebooks/train.ipynb": "t2"})
    shallow = clone(repo, tmp_path / "shallow", "--depth", "1")
    d = run(shallow, before_sha=before, commit_sha="HEAD",
            commit_message="[run notebooks/sub/infer.ipynb]")
    assert d.notebooks == ["notebooks/sub/infer.ipynb"]  # directives still work
    assert d.changed == [] and d.base == "shallow" and "GIT_DEPTH" in d.reason


def test_shallow_clone_depth_two_uses_the_commit_itself(repo: Repo, tmp_path: Path) -> None:
    before = repo.head()
    repo.commit("c1", {"notebooks/one.ipynb": "1"})
    repo.commit("c2", {"notebooks/two.ipynb": "2"})
    shallow = clone(repo, tmp_path / "shallow", "--depth", "2")
    d = run(shallow, before_sha=before, commit_sha="HEAD")  # before is beyond the depth
    assert d.notebooks == ["notebooks/two.ipynb"] and d.base == "parent"


def test_directives_come_first_in_order_then_changes_sorted(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("[run notebooks/train.ipynb] tweak\n\n[run notebooks/sub/infer.ipynb]\n"
                      "[run notebooks/train.ipynb]",
                      {"notebooks/z.ipynb": "z", "notebooks/a.ipynb": "a",
                       "notebooks/sub/infer.ipynb": "i2"})
    message = repo.git("log", "-1", "--format=%B")
    d = run(repo, before_sha=before, commit_sha=sha, commit_message=message)
    assert d.notebooks == ["notebooks/train.ipynb", "notebooks/sub/infer.ipynb",
                           "notebooks/a.ipynb", "notebooks/z.ipynb"]
    assert d.directives == ["notebooks/train.ipynb", "notebooks/sub/infer.ipynb"]
    assert "2 requested by [run]" in d.reason


def test_directive_outside_the_glob_runs_too(repo: Repo) -> None:
    repo.commit("other", {"experiments/x.ipynb": "x"})
    d = run(repo, before_sha=repo.head(), commit_message="[run experiments/x.ipynb]")
    assert d.notebooks == ["experiments/x.ipynb"]


def test_skip_run_wins_over_changes_and_directives(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("m", {"notebooks/train.ipynb": "t2"})
    d = run(repo, before_sha=before, commit_sha=sha,
            commit_message="[run notebooks/sub/infer.ipynb] [run ../bad] [ Skip  Run ]")
    assert (d.notebooks, d.skip, d.commit_sha) == ([], True, sha)
    assert "[ Skip  Run ]" in d.reason


def test_directive_for_a_file_missing_at_this_commit(repo: Repo) -> None:
    (repo.path / "notebooks" / "uncommitted.ipynb").write_text("{}")
    old = repo.head()
    repo.commit("rm", {"notebooks/train.ipynb": None})
    for path in ("notebooks/uncommitted.ipynb", "notebooks/train.ipynb"):
        with pytest.raises(DirectiveError, match=rf"^bad directive \[run {path}\]: no such file"):
            run(repo, before_sha=old, commit_message=f"[run {path}]")
    with pytest.raises(DirectiveError, match="is a directory"):
        (repo.path / "d.ipynb").mkdir()
        repo.commit("dir", {"d.ipynb/x.txt": "x"})
        run(repo, commit_message="[run d.ipynb]")


def test_directive_is_checked_at_the_given_commit_not_the_checkout(repo: Repo) -> None:
    old = repo.head()
    repo.commit("rm", {"notebooks/train.ipynb": None})
    d = run(repo, commit_sha=old, commit_message="[run notebooks/train.ipynb]")
    assert d.notebooks[0] == "notebooks/train.ipynb"


@pytest.mark.parametrize("glob,expected", [
    ("notebooks/**/*.ipynb", ["notebooks/a.ipynb", "notebooks/deep/er/c.ipynb",
                              "notebooks/sub/b.ipynb"]),
    ("notebooks/*.ipynb", ["notebooks/a.ipynb"]),  # '*' does not cross '/'
    ("*.ipynb", ["top.ipynb"]),
    ("**/*.ipynb", ["models/m.ipynb", "notebooks/a.ipynb", "notebooks/deep/er/c.ipynb",
                    "notebooks/sub/b.ipynb", "top.ipynb"]),
    ("models/**/*.ipynb, notebooks/sub/**", ["models/m.ipynb", "notebooks/sub/b.ipynb"]),
    ("**/*.ipynb,!notebooks/deep/**", ["models/m.ipynb", "notebooks/a.ipynb",
                                       "notebooks/sub/b.ipynb", "top.ipynb"]),
    ("notebooks/**", ["notebooks/a.ipynb", "notebooks/deep/er/c.ipynb",
                      "notebooks/sub/b.ipynb"]),  # only .ipynb files, even with a wide glob
])
def test_glob_configuration(tmp_path: Path, glob: str, expected: list[str]) -> None:
    r = Repo(tmp_path / "g")
    before = r.commit("root", {"README.md": "x\n"})
    sha = r.commit("many", {name: name for name in [
        "notebooks/a.ipynb", "notebooks/sub/b.ipynb", "notebooks/deep/er/c.ipynb",
        "models/m.ipynb", "top.ipynb", "notebooks/readme.md"]})
    assert run(r, before_sha=before, commit_sha=sha, notebooks_glob=glob).notebooks == expected


def test_schedule_runs_exactly_the_scoring_notebook(repo: Repo) -> None:
    before = repo.head()
    repo.commit("[skip run] [run notebooks/train.ipynb]", {"notebooks/train.ipynb": "t2"})
    d = run(repo, pipeline_source="schedule", before_sha=before,
            scoring_notebook=" ./notebooks/sub/infer.ipynb ",
            commit_message="[skip run] [run notebooks/train.ipynb] [run ../bad]")
    assert (d.notebooks, d.skip, d.source) == (["notebooks/sub/infer.ipynb"], False, "schedule")
    assert "SCORING_NOTEBOOK" in d.reason


@pytest.mark.parametrize("value,fragment", [
    ("", "SCORING_NOTEBOOK is not set"),
    ("notebooks/missing.ipynb", "names no notebook"),
    ("README.md", "must end in .ipynb"),
    ("../x.ipynb", "outside the repository"),
    ("/abs/x.ipynb", "relative to the repository root"),
])
def test_schedule_errors(repo: Repo, value: str, fragment: str) -> None:
    with pytest.raises(UsageError, match="SCORING_NOTEBOOK") as info:
        run(repo, pipeline_source="schedule", scoring_notebook=value)
    assert fragment in str(info.value) and info.value.exit_code == 2


@pytest.mark.parametrize("source", ["web", "api", "trigger", "pipeline", "parent_pipeline", ""])
def test_other_sources_behave_like_push(repo: Repo, source: str) -> None:
    before = repo.head()
    sha = repo.commit("m", {"notebooks/train.ipynb": "t2"})
    d = run(repo, pipeline_source=source, before_sha=before, commit_sha=sha)
    assert d.notebooks == ["notebooks/train.ipynb"] and d.source == (source or "push")


def test_bad_inputs(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not in the repository"):
        run(repo, commit_sha="f" * 40)
    with pytest.raises(UsageError, match="not a valid git revision"):
        run(repo, commit_sha="HEAD\nHEAD")
    with pytest.raises(UsageError, match="CI_DEFAULT_BRANCH '--all' is not a valid"):
        run(repo, before_sha=ZERO_SHA, default_branch="--all")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="git cat-file failed"):
        detect(tmp_path / "plain", DetectContext())


def test_from_env_reads_gitlab_variables() -> None:
    ctx = DetectContext.from_env({
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_COMMIT_MESSAGE": "[skip run]",
        "CI_COMMIT_SHA": "abc", "CI_COMMIT_BEFORE_SHA": ZERO_SHA,
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": "def", "CI_DEFAULT_BRANCH": "trunk",
        "SCORING_NOTEBOOK": "n.ipynb", "DS_NOTEBOOKS_GLOB": "nb/**/*.ipynb", "OTHER": "x",
        "DS_RUN_NOTEBOOKS": "a.ipynb", "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA": "123"})
    assert ctx == DetectContext("merge_request_event", "[skip run]", "abc", ZERO_SHA, "def",
                                "trunk", "n.ipynb", "nb/**/*.ipynb", "a.ipynb", "123")
    assert DetectContext.from_env({"CI_COMMIT_SHA": "", "CI_DEFAULT_BRANCH": ""}) == (
        DetectContext())


def test_to_dict_is_json_ready(repo: Repo) -> None:
    d = run(repo, before_sha=ZERO_SHA).to_dict()
    assert d["count"] == 2 and d["notebooks"] == d["changed"]
    assert set(d) >= {"notebooks", "skip", "reason", "source", "base_sha", "directives"}


# --- merged-results and merge-train pipelines --------------------------------------------------

def _merged_result(repo: Repo, source_message: str) -> tuple[str, str, str]:
    """GitLab's merged-results set-up: (diff base, source branch head, merge commit).

    The merge commit is GitLab's own, with a message of its own and the target branch's new
    notebook in its tree (doc/ci/pipelines/merged_results_pipelines.md)."""
    base = repo.head()
    repo.branch("feature")
    repo.commit("f1", {"notebooks/feature.ipynb": "f1"})
    source_head = repo.commit(source_message, {"README.md": "feature docs\n"})
    repo.checkout("main")
    repo.commit("target moves on", {"notebooks/target_only.ipynb": "t", "notebooks/train.ipynb":
                                    "t-main"})
    repo.git("checkout", "-q", "--detach")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature' into 'main'", "feature")
    return base, source_head, repo.head()


def _mr(repo: Repo, base: str, source_head: str, merge: str, **kwargs: str) -> Detection:
    return run(repo, pipeline_source="merge_request_event", commit_sha=merge,
               commit_message="Merge branch 'feature' into 'main'", mr_diff_base_sha=base,
               mr_source_sha=source_head, **kwargs)


def test_merged_results_reads_the_source_head_not_the_merge_commit(repo: Repo) -> None:
    base, source_head, merge = _merged_result(repo, "tune [run notebooks/sub/infer.ipynb]")
    d = _mr(repo, base, source_head, merge)
    # the author's directive counts; the target branch's notebooks do not leak into the diff
    assert d.notebooks == ["notebooks/sub/infer.ipynb", "notebooks/feature.ipynb"]
    assert (d.commit_sha, d.analysed_sha, d.base_sha) == (merge, source_head, base)
    assert d.directives == ["notebooks/sub/infer.ipynb"]
    assert "source branch head" in d.reason and merge[:8] in d.reason


def test_merged_results_honours_skip_run_of_the_source_head(repo: Repo) -> None:
    base, source_head, merge = _merged_result(repo, "wip [skip run]")
    d = _mr(repo, base, source_head, merge)
    assert d.skip and d.notebooks == []
    assert (d.commit_sha, d.analysed_sha) == (merge, source_head)


def test_plain_merge_request_pipeline_has_an_empty_source_sha(repo: Repo) -> None:
    base, source_head, _ = _merged_result(repo, "tune [run notebooks/sub/infer.ipynb]")
    d = run(repo, pipeline_source="merge_request_event", commit_sha=source_head,
            commit_message="tune [run notebooks/sub/infer.ipynb]", mr_diff_base_sha=base,
            mr_source_sha="")
    assert d.notebooks == ["notebooks/sub/infer.ipynb", "notebooks/feature.ipynb"]
    assert d.commit_sha == d.analysed_sha == source_head


def test_merged_results_source_head_missing_from_the_clone(repo: Repo) -> None:
    base, _, merge = _merged_result(repo, "x")
    with pytest.raises(UsageError, match="CI_MERGE_REQUEST_SOURCE_BRANCH_SHA 00000000 is not in"):
        _mr(repo, base, "0" * 39 + "1", merge)


# --- DS_RUN_NOTEBOOKS ---------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["web", "api", "trigger", "pipeline"])
def test_manual_pipeline_runs_exactly_ds_run_notebooks(repo: Repo, source: str) -> None:
    sha = repo.commit("m [run notebooks/train.ipynb]", {"notebooks/new.ipynb": "n"})
    d = run(repo, pipeline_source=source, commit_sha=sha, before_sha=ZERO_SHA,
            commit_message="m [run notebooks/train.ipynb]",
            run_notebooks=" ./notebooks/sub/infer.ipynb,notebooks/new.ipynb  notebooks/new.ipynb")
    assert d.notebooks == ["notebooks/sub/infer.ipynb", "notebooks/new.ipynb"]
    assert (d.requested, d.directives, d.changed, d.base) == (d.notebooks, [], [], "")
    assert d.reason.startswith(f"DS_RUN_NOTEBOOKS in a {source} pipeline")


def test_manual_pipeline_without_ds_run_notebooks_is_a_push_of_its_commit(repo: Repo) -> None:
    sha = repo.commit("m", {"notebooks/new.ipynb": "n"})
    d = run(repo, pipeline_source="web", commit_sha=sha, before_sha=ZERO_SHA, run_notebooks=" ")
    assert d.notebooks == ["notebooks/new.ipynb"] and d.base == "parent"


def test_ds_run_notebooks_adds_to_the_directives_of_a_push(repo: Repo) -> None:
    before = repo.head()
    sha = repo.commit("m [run notebooks/sub/infer.ipynb]", {"notebooks/new.ipynb": "n"})
    d = run(repo, before_sha=before, commit_sha=sha,
            commit_message="m [run notebooks/sub/infer.ipynb]",
            run_notebooks="notebooks/train.ipynb notebooks/sub/infer.ipynb")
    assert d.notebooks == ["notebooks/sub/infer.ipynb", "notebooks/train.ipynb",
                           "notebooks/new.ipynb"]
    assert d.requested == ["notebooks/train.ipynb", "notebooks/sub/infer.ipynb"]
    assert "1 requested by DS_RUN_NOTEBOOKS" in d.reason
    skipped = run(repo, before_sha=before, commit_sha=sha, commit_message="[skip run]",
                  run_notebooks="notebooks/train.ipynb")
    assert skipped.skip and skipped.notebooks == []


def test_ds_run_notebooks_is_ignored_by_schedules(repo: Repo) -> None:
    d = run(repo, pipeline_source="schedule", scoring_notebook="notebooks/train.ipynb",
            run_notebooks="../bad")
    assert d.notebooks == ["notebooks/train.ipynb"]


@pytest.mark.parametrize(("value", "fragment"), [
    ("notebooks/missing.ipynb", "bad DS_RUN_NOTEBOOKS entry 'notebooks/missing.ipynb': no such "
                                "file at this commit"),
    ("notebooks", "bad DS_RUN_NOTEBOOKS entry 'notebooks': not a notebook"),
    ("notebooks/sub", "not a notebook"),
    ("../x.ipynb", "outside the repository"),
    ("notebooks/\u202ex.ipynb", "control character U+202E"),
    ("notebooks\\x.ipynb", "forward slashes"),
])
def test_ds_run_notebooks_has_the_checks_of_run_directives(repo: Repo, value: str,
                                                           fragment: str) -> None:
    for source in ("web", "push"):
        with pytest.raises(DirectiveError) as info:
            run(repo, pipeline_source=source, before_sha=ZERO_SHA, run_notebooks=value)
        assert fragment in str(info.value) and info.value.exit_code == 2


def test_schedule_without_scoring_notebook_names_the_pipeline_variables_setting(
        repo: Repo) -> None:
    with pytest.raises(UsageError) as info:
        run(repo, pipeline_source="schedule")
    message = str(info.value)
    assert "Minimum role to use pipeline variables" in message
    assert "ci_pipeline_variables_minimum_override_role" in message
    assert "project CI/CD variable" in message  # the way around pipeline variables


# --- symbolic links -----------------------------------------------------------------------------

def _link(repo: Repo, path: str, target: str | Path, message: str = "link") -> str:
    """Commit ``path`` as a symbolic link to ``target``."""
    (repo.path / path).parent.mkdir(parents=True, exist_ok=True)
    (repo.path / path).symlink_to(target)
    repo.git("add", "--", path)
    return repo.commit(message)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere" / "secret.ipynb"
    target.parent.mkdir()
    target.write_text("{}")
    return target


@pytest.mark.parametrize("target", ["absolute", "../../elsewhere/secret.ipynb", "chain"])
def test_changed_symlink_leading_outside_is_refused(repo: Repo, outside: Path,
                                                    target: str) -> None:
    before = repo.head()
    if target == "chain":  # inside first, then out through a linked directory
        _link(repo, "data", outside.parent)
        target = "../data/secret.ipynb"
    sha = _link(repo, "notebooks/linked.ipynb", outside if target == "absolute" else target)
    with pytest.raises(UsageError) as info:
        run(repo, before_sha=before, commit_sha=sha)
    assert str(info.value) == (f"notebooks/linked.ipynb: is a symbolic link to {outside}, "
                               f"outside the repository {repo.path.resolve()}")
    assert info.value.exit_code == 2


def test_symlink_inside_the_repository_stays_fine(repo: Repo) -> None:
    before = repo.head()
    sha = _link(repo, "notebooks/alias.ipynb", "sub/infer.ipynb")
    sha = _link(repo, "notebooks/absolute.ipynb", repo.path / "notebooks" / "train.ipynb")
    d = run(repo, before_sha=before, commit_sha=sha)
    assert d.notebooks == ["notebooks/absolute.ipynb", "notebooks/alias.ipynb"]


@pytest.mark.parametrize("how", ["directive", "DS_RUN_NOTEBOOKS", "manual", "schedule"])
def test_requested_symlink_leading_outside_is_refused(repo: Repo, outside: Path,
                                                      how: str) -> None:
    _link(repo, "other/linked.ipynb", outside)
    sha = repo.commit("later")  # the link did not change: only the request names it
    kwargs = {"directive": {"commit_message": "[run other/linked.ipynb]"},
              "DS_RUN_NOTEBOOKS": {"run_notebooks": "other/linked.ipynb"},
              "manual": {"run_notebooks": "other/linked.ipynb", "pipeline_source": "web"},
              "schedule": {"scoring_notebook": "other/linked.ipynb",
                           "pipeline_source": "schedule"}}[how]
    with pytest.raises(UsageError) as info:
        run(repo, before_sha=ZERO_SHA, commit_sha=sha, **kwargs)
    message = (f"other/linked.ipynb: is a symbolic link to {outside}, outside the repository "
               f"{repo.path.resolve()}")
    assert str(info.value).endswith(message) and info.value.exit_code == 2
    if how != "schedule":
        assert str(info.value).startswith("bad ")  # names the directive or the entry
