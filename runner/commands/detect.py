"""``ds-runner detect``: which notebooks does this pipeline run? (docs/commands/detect.md)"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click

from runner import log
from runner.detect.changes import DetectContext, Detection
from runner.detect.childpipeline import MODES, ChildOptions, detect_and_write
from runner.paths import NOTEBOOK_GLOB


def _summary(detection: Detection) -> str:
    lines = [f"ds-runner detect ({detection.source}): "
             + ("skip" if detection.skip else f"{len(detection.notebooks)} notebook(s) to run"),
             f"  reason: {detection.reason}"]
    written, requested = set(detection.directives), set(detection.requested)
    for i, notebook in enumerate(detection.notebooks, 1):
        why = ("[run] directive" if notebook in written else "DS_RUN_NOTEBOOKS"
               if notebook in requested else "changed")
        if detection.source == "schedule":
            why = "SCORING_NOTEBOOK"
        lines.append(f"  {i}. {notebook}  ({why})")
    lines += [f"  -  {path}  (deleted, not run)" for path in detection.deleted]
    lines += [f"  -  {r['notebook']}  (reused from job {r['job_id']} of pipeline "
              f"{r['pipeline_id']}, not run)" for r in detection.reused]
    return "\n".join(lines)


@click.command("detect")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The git checkout to look at.")
@click.option("--source", envvar="CI_PIPELINE_SOURCE", show_envvar=True,
              help="Pipeline source: push, merge_request_event, schedule, web, ... [default: push]")
@click.option("--message", envvar="CI_COMMIT_MESSAGE", show_envvar=True,
              help="Commit message holding [run path] / [skip run] directives.")
@click.option("--sha", envvar="CI_COMMIT_SHA", show_envvar=True,
              help="The commit the pipeline runs for. [default: HEAD]")
@click.option("--before-sha", envvar="CI_COMMIT_BEFORE_SHA", show_envvar=True,
              help="Previous tip of the branch (push pipelines).")
@click.option("--mr-base-sha", envvar="CI_MERGE_REQUEST_DIFF_BASE_SHA", show_envvar=True,
              help="Merge base of a merge request (merge_request_event pipelines).")
@click.option("--mr-source-sha", envvar="CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", show_envvar=True,
              help="Head of the merge request's source branch; set only in merged-results and "
                   "merge-train pipelines, whose CI_COMMIT_SHA is GitLab's merge commit.")
@click.option("--run-notebooks", envvar="DS_RUN_NOTEBOOKS", show_envvar=True,
              help="Notebooks to run (paths separated by spaces or commas): exactly these in "
                   "web, api, trigger and pipeline pipelines; added to the [run] directives in "
                   "others.")
@click.option("--default-branch", envvar="CI_DEFAULT_BRANCH", show_envvar=True,
              help="Branch whose merge base is the fallback base. [default: main]")
@click.option("--scoring-notebook", envvar="SCORING_NOTEBOOK", show_envvar=True,
              help="The notebook a scheduled pipeline runs.")
@click.option("--glob", "notebooks_glob", envvar="DS_NOTEBOOKS_GLOB", show_envvar=True,
              help=f"Which changed files are notebooks to run; comma-separated, '!' excludes. "
                   f"[default: {NOTEBOOK_GLOB}]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--dotenv", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a GitLab dotenv report (DS_NOTEBOOKS, DS_NOTEBOOK_COUNT, DS_SKIP, ...).")
@click.option("--child-pipeline", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a child-pipeline YAML with one execute job per notebook.")
@click.option("--child-image", envvar=["DS_CHILD_IMAGE", "CI_JOB_IMAGE"], show_envvar=True,
              default="", help="Image of the child jobs (default: this job's image).")
@click.option("--child-tag", "child_tags", multiple=True, envvar="DS_CHILD_TAGS",
              show_envvar=True, help="Runner tag of the child jobs (repeatable).")
@click.option("--child-timeout", type=int, envvar="DS_NOTEBOOK_TIMEOUT", show_envvar=True,
              default=3600, show_default=True,
              help="Notebook timeout in seconds (the job gets 5 more minutes).")
@click.option("--child-stage", envvar="DS_CHILD_STAGE", show_envvar=True, default="execute",
              show_default=True, help="Stage of the child jobs.")
@click.option("--child-before-script", multiple=True,
              help="A before_script line of the child jobs (repeatable).")
@click.option("--child-variables", multiple=True, metavar="KEY=VALUE",
              help="A variable of the child jobs (repeatable).")
@click.option("--child-mode", type=click.Choice(MODES), envvar="DS_EXECUTION_MODE",
              show_envvar=True, default="parallel", show_default=True,
              help="parallel: jobs run at once; sequential: chained one after another.")
@click.option("--child-expire-in", default="30 days", show_default=True,
              help="How long the child jobs' artifacts are kept.")
@click.option("--reuse/--no-reuse", envvar="DS_REUSE", show_envvar=True, default=True,
              show_default=True,
              help="In a tag pipeline, do not run a notebook that already ran successfully on "
                   "this commit with the same content key: detect.json lists it under `reused` "
                   "with the job (needs GITLAB_TOKEN to list jobs).")
@click.option("--reuse-job", envvar="DS_REUSE_JOB", show_envvar=True,
              default="execute-notebook", show_default=True,
              help="The sequential-mode execute job an earlier run may be found in (child jobs "
                   "are found as execute:<path>).")
@click.option("--tag", envvar="CI_COMMIT_TAG", show_envvar=True, default="",
              help="The tag of a tag pipeline; reuse is looked for only there.")
@click.option("--tag-message", envvar="CI_COMMIT_TAG_MESSAGE", show_envvar=True, default="",
              help="The tag's message: its [run path] directives force those notebooks to run "
                   "again.")
@click.option("--image", default="",
              help="The notebook image, part of the content key (default: what `ds-runner "
                   "execute` records, build-container's DS_IMAGE_TAG, else DS_IMAGE, else "
                   "DS_CHILD_IMAGE).")
def command(repo: Path, source: str | None, message: str | None, sha: str | None,
            before_sha: str | None, mr_base_sha: str | None, mr_source_sha: str | None,
            run_notebooks: str | None, default_branch: str | None,
            scoring_notebook: str | None, notebooks_glob: str | None, as_json: bool,
            dotenv: Path | None, child_pipeline: Path | None, child_image: str,
            child_tags: tuple[str, ...], child_timeout: int, child_stage: str,
            child_before_script: tuple[str, ...], child_variables: tuple[str, ...],
            child_mode: str, child_expire_in: str, reuse: bool, reuse_job: str, tag: str,
            tag_message: str, image: str) -> int:
    """Decide which notebooks this pipeline runs: changed ones plus [run path] directives."""
    overrides = {"pipeline_source": source, "commit_message": message, "commit_sha": sha,
                 "before_sha": before_sha, "mr_diff_base_sha": mr_base_sha,
                 "mr_source_sha": mr_source_sha, "run_notebooks": run_notebooks,
                 "default_branch": default_branch, "scoring_notebook": scoring_notebook,
                 "notebooks_glob": notebooks_glob}
    ctx = dataclasses.replace(DetectContext.from_env(os.environ),
                              **{k: v for k, v in overrides.items() if v is not None})
    child = ChildOptions.build(image=child_image, tags=child_tags, timeout_s=child_timeout,
                               stage=child_stage, before_script=child_before_script,
                               variables=child_variables, mode=child_mode,
                               expire_in=child_expire_in)
    masker = log.masker()
    adjust = None
    if tag:   # the job list is read only in tag pipelines
        from runner import __version__
        from runner.detect.contentkey import image_of
        from runner.publish.reuse import ReuseOptions, apply_reuse, ci_env_from

        opts = ReuseOptions(enabled=reuse, sequential_job=reuse_job, tag_message=tag_message,
                            image=image or image_of(os.environ), runner_version=__version__)
        env = dataclasses.replace(ci_env_from(os.environ), commit_tag=tag)

        def adjust(found: Detection) -> Detection:
            return apply_reuse(found, repo, env, opts)
    detection = detect_and_write(repo, ctx, dotenv=dotenv, child_pipeline_file=child_pipeline,
                                 child=child, masker=masker, adjust=adjust)
    if as_json:
        click.echo(json.dumps(masker.mask_obj(detection.to_dict()), ensure_ascii=False))
    else:
        click.echo(masker.mask(_summary(detection)))
    return 0
