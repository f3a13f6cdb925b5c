from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.masking import Masker
from runner.metrics import CellError
from runner.publish.files import write_local_report
from runner.report.comment_body import (
    MARKER,
    MAX_HISTORY,
    encode_history,
    latest_metrics,
    parse_history,
    render_comment,
)
from runner.report.gates import GateResult
from runner.report.release_notes import ReleaseInfo, parse_release_metrics, render_release_notes
from runner.report.render import NotebookReport, RunContext, delta, metrics_table
from runner.report.wiki_pages import (
    Layout,
    index_row,
    merge_rows,
    parse_rows,
    relative_url_for,
    render_index,
    render_page,
    run_row,
    split_rows,
    wiki_url_for,
)
from tests.report_helpers import make_result, write_config, write_result

CTX = RunContext(pipeline_id="41", pipeline_url="https://gl.example/g/p/-/pipelines/41",
                 job_url="https://gl.example/g/p/-/jobs/7", commit_sha="c" * 40,
                 time="2026-11-22T12:00:00Z", target_label="main", production_label="v0.9.0")


def report(**kw: object) -> NotebookReport:
    rep = NotebookReport(make_result(), target={"auc": 0.96, "logloss": 0.25},
                         production={"auc": 0.98, "logloss": 0.2},
                         directions={"logloss": "lower"},
                         figure_urls={"roc": "/uploads/abc/roc.png"},
                         artifact_urls={"notebook": "https://gl.example/j/7/nb",
                                        "metrics_report": "https://gl.example/j/7/m"})
    for k, v in kw.items():
        setattr(rep, k, v)
    return rep


@pytest.mark.parametrize(("value", "base", "direction", "expected"), [
    (0.97, 0.96, "higher", "▲ +0.01 (+1.0%) 🟢 better"),
    (0.95, 0.96, "higher", "▼ -0.01 (-1.0%) 🔴 worse"),
    (0.21, 0.25, "lower", "▼ -0.04 (-16.0%) 🟢 better"),
    (0.3, 0.25, "lower", "▲ +0.05 (+20.0%) 🔴 worse"),
    (1.0, 1.0, "higher", "= 0"),
    (1.0, 0.0, "higher", "▲ +1 🟢 better"),
    (None, 1.0, "higher", "—"),
])
def test_delta_is_direction_aware(value: float | None, base: float, direction: str,
                                  expected: str) -> None:
    assert delta(value, base, direction) == expected


def test_metrics_table_says_no_baseline_yet() -> None:
    table = metrics_table(report(target=None), [("main", None), ("v0.9.0", {"auc": 0.9})])
    auc = next(line for line in table.splitlines() if line.startswith("| `auc`"))
    assert "no baseline yet" in auc and "▲ +0.07" in auc


def test_comment_has_marker_sections_links_and_figures() -> None:
    body = render_comment([report()], CTX)
    assert body.startswith(MARKER)
    assert "### ✅ success — `notebooks/train.ipynb`" in body
    assert "[pipeline #41](https://gl.example/g/p/-/pipelines/41)" in body
    assert "[job](https://gl.example/g/p/-/jobs/7)" in body
    assert "[executed notebook](https://gl.example/j/7/nb)" in body
    assert "https://gl.example/j/7/m" not in body
    assert "[MLflow run](http://mlflow.example/#/experiments/1/runs/abc)" in body
    assert "![roc](/uploads/abc/roc.png)" in body
    assert "| `logloss` ↓ | 0.21 | 0.25 | ▼ -0.04 (-16.0%) 🟢 better |" in body
    assert "History" not in body      # nothing earlier yet


def test_failed_notebook_shows_cell_and_exception_collapsed() -> None:
    err = CellError(7, "ValueError", "bad ``` value")
    rep = report(result=make_result(status="failed", error=err, metrics={}))
    body = render_comment([rep], CTX)
    assert "❌ 1 of 1 notebooks failed" in body
    assert "<details><summary>Failed in cell 7: <code>ValueError</code></summary>" in body
    assert "````\nValueError: bad ``` value\n````" in body


def test_gate_table_in_comment() -> None:
    gates = [GateResult("min", "auc", 0.9, 0.95, False, "0.9 < min 0.95")]
    body = render_comment([report(gates=gates)], CTX)
    assert "**1 of 1 validation gates failed.**" in body
    assert "| min | `auc` | 0.9 | 0.95 | ❌ fail | 0.9 < min 0.95 |" in body


def test_history_round_trips_and_is_bounded() -> None:
    body = ""
    for i in range(MAX_HISTORY + 5):
        ctx = RunContext(pipeline_id=str(i), time=f"t{i}")
        body = render_comment([report(result=make_result(metrics={"auc": i / 100}))], ctx,
                              parse_history(body))
    entries = parse_history(body)
    assert len(entries) == MAX_HISTORY
    assert [e["pipeline_id"] for e in entries[:2]] == [str(MAX_HISTORY + 4), str(MAX_HISTORY + 3)]
    assert f"History: {MAX_HISTORY - 1} earlier pipelines" in body
    assert latest_metrics(entries, "notebooks/train.ipynb") == {"auc": (MAX_HISTORY + 4) / 100}


def test_rerun_of_same_pipeline_replaces_its_history_entry() -> None:
    first = render_comment([report()], CTX)
    second = render_comment([report()], CTX, parse_history(first))
    assert len(parse_history(second)) == 1


def test_history_block_survives_html_comment_terminators() -> None:
    nasty = {"notebooks": {"a-->b--c.ipynb": {"status": "success", "metrics": {"x": 1.0}}}}
    block = encode_history([nasty])
    assert block.count("-->") == 1 and parse_history(block) == [nasty]


def test_history_size_cap_drops_oldest() -> None:
    entries = [{"pipeline_id": str(i), "notebooks": {"n" * 500: {"metrics": {}}}}
               for i in range(50)]
    block = encode_history(entries, max_chars=5_000)
    kept = parse_history(block)
    assert 0 < len(kept) < 50 and kept[0]["pipeline_id"] == "0" and len(block) < 5_100


def test_comment_stays_far_below_gitlab_limit_with_huge_errors() -> None:
    err = CellError(1, "E", "x" * 2_000_000)
    reps = [report(result=make_result(f"n{i}.ipynb", status="failed", error=err))
            for i in range(5)]
    assert len(render_comment(reps, CTX)) < 100_000


def test_secrets_are_masked_at_the_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "supersecret1")
    write_config(tmp_path)
    result = make_result(info={"mlflow_run_url": "http://x/?token=supersecret1"},
                         metrics={"supersecret1_auc": 0.9})
    paths = write_local_report([result], tmp_path / "report", tmp_path)
    for path in paths:
        text = path.read_text()
        assert "supersecret1" not in text and "[MASKED]" in text, path
    assert "supersecret1" in render_comment([report(result=result)], CTX)   # rendering is pure
    assert Masker(["supersecret1"]).mask("a supersecret1") == "a [MASKED]"


def test_wiki_rows_merge_newest_first_and_dedupe() -> None:
    layout = Layout("ds-pipeline")
    url_for = wiki_url_for("https://gl.example/g/p/-/wikis")
    old = run_row(make_result(started_at="2026-11-20T10:00:00Z"),
                  RunContext(pipeline_id="1", job_url="https://gl.example/j/1"))
    new = run_row(make_result(started_at="2026-11-21T10:00:00Z"),
                  RunContext(pipeline_id="2", job_url="https://gl.example/j/2"))
    page = render_page("notebooks/train.ipynb", [old], layout, url_for)
    rows = merge_rows(parse_rows(page), [new, old])
    assert [r.key for r in rows] == [new.key, old.key]
    again = render_page("notebooks/train.ipynb", rows, layout, url_for)
    assert again.count("<!-- ds-run:") == 2
    assert "[the archive](https://gl.example/g/p/-/wikis/ds-pipeline/archive/notebooks/train)" \
        in again


def test_wiki_split_moves_a_batch_to_the_archive() -> None:
    rows = [run_row(make_result(started_at=f"2026-11-{d:02d}T10:00:00Z"), RunContext())
            for d in range(1, 13)]
    keep, old = split_rows(merge_rows([], rows), max_rows=10)
    assert len(keep) == 9 and len(old) == 3
    assert keep[0].key.startswith("2026-11-12") and old[-1].key.startswith("2026-11-01")
    assert split_rows(keep, 10) == (keep, [])


def test_wiki_layout_slugs() -> None:
    layout = Layout("ds-pipeline")
    assert layout.page("notebooks/my model.ipynb") == "ds-pipeline/notebooks/my-model"
    assert layout.archive("../x.ipynb") == "ds-pipeline/archive/x"
    assert layout.index == "ds-pipeline/index"
    assert relative_url_for("notebooks/train")("index") == "../index.md"


def test_index_lists_each_notebook_once() -> None:
    layout, url_for = Layout(""), relative_url_for("index")
    rows = merge_rows([], [index_row(make_result("a.ipynb"), CTX, layout, url_for)], False)
    rows = merge_rows(parse_rows(render_index(rows)),
                      [index_row(make_result("b.ipynb"), CTX, layout, url_for),
                       index_row(make_result("a.ipynb", status="failed"), CTX, layout, url_for)],
                      newest_first=False)
    text = render_index(rows)
    assert text.count("ds-nb:a.ipynb") == 1 and "❌ failed" in text and "[`b.ipynb`](b.md)" in text


def test_release_notes_carry_machine_readable_metrics() -> None:
    info = ReleaseInfo(tag="v1.0.0", commit_sha="c" * 40, image="reg.example/g/p:v1.0.0",
                       baseline_tag="v0.9.0")
    notes = render_release_notes([report()], info)
    assert "## Model card: v1.0.0" in notes and "`reg.example/g/p:v1.0.0`" in notes
    assert "production release `v0.9.0`" in notes and "Forced" not in notes
    assert parse_release_metrics(notes) == {"notebooks/train.ipynb":
                                            {"auc": 0.97, "logloss": 0.21}}
    forced = render_release_notes([report()], ReleaseInfo(tag="v1.0.1", forced=True))
    assert "**Forced release.**" in forced and "no baseline yet" in forced


def test_release_metrics_absent_or_broken() -> None:
    assert parse_release_metrics("just text") is None
    assert parse_release_metrics(
        "<!-- ds-pipeline:release-metrics -->\n```json\n{not json\n```") is None


def test_write_local_report_renders_comment_and_wiki(tmp_path: Path) -> None:
    write_config(tmp_path)
    out = tmp_path / ".ds-runner"
    first = make_result(started_at="2026-11-22T10:00:00Z")
    write_result(out, first)
    paths = write_local_report([first], out / "report", tmp_path)
    names = sorted(p.relative_to(out / "report").as_posix() for p in paths)
    assert names == ["comment.md", "wiki/index.md", "wiki/notebooks/train.md"]
    comment = (out / "report" / "comment.md").read_text()
    assert "no baseline yet" in comment
    assert "![roc](../notebooks/train/figures/roc.png)" in comment
    assert "| min | `auc` | 0.97 | 0.95 | ✅ pass |" in comment

    second = make_result(metrics={"auc": 0.99, "logloss": 0.1}, started_at="2026-11-22T11:00:00Z")
    write_result(out, second)
    write_local_report([second], out / "report", tmp_path)
    comment = (out / "report" / "comment.md").read_text()
    assert "| `auc` ↑ | 0.99 | 0.97 | ▲ +0.02 (+2.1%) 🟢 better |" in comment
    assert "| `logloss` ↓ | 0.1 | 0.21 | ▼ -0.11 (-52.4%) 🟢 better |" in comment
    page = (out / "report" / "wiki" / "notebooks" / "train.md").read_text()
    assert page.index("2026-11-22 11:00:00") < page.index("2026-11-22 10:00:00")
    index = (out / "report" / "wiki" / "index.md").read_text()
    assert index.count("ds-nb:notebooks/train.ipynb") == 1
    assert json.loads(json.dumps(parse_history(comment)))[0]["notebooks"]


def test_links_point_at_the_job_that_ran_the_notebook() -> None:
    result = make_result(info={"job_url": "https://gl.example/g/p/-/jobs/5"})
    body = render_comment([report(result=result)], CTX)
    assert "[job](https://gl.example/g/p/-/jobs/5)" in body
    assert "[job](https://gl.example/g/p/-/jobs/7)" not in body
    row = run_row(result, CTX)
    assert "[#5](https://gl.example/g/p/-/jobs/5)" in row.line


def test_ds_runner_run_imports_nothing_that_talks_to_gitlab() -> None:
    """``ds-runner run`` and its report never reach python-gitlab or our adapter of it."""
    code = ("import sys, runner.commands.run, runner.execute.notebook, runner.publish.files; "
            "print(sorted(m for m in sys.modules if m == 'gitlab' or m.startswith('gitlab.') "
            "or m == 'runner.gitlab_client'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2], check=True)
    assert done.stdout.strip() == "[]"
