"""A production tag pipeline on a commit the default branch already trained: its ds-runner steps
with reuse (detect finds the job, execute runs nothing, collect --reused, release) and without
(DS_REUSE=false: detect, execute trains the training example again, release), side by side.

A GitLab emulator (tests/gitlab_emulator) in this process plays GitLab; every step is the
``ds-runner`` command line the templates run, as a subprocess, on a git copy of the example
(the notebook, its config, data/). Once, unmeasured, the "default branch" trains the example and
its output folder becomes the artifacts of an ``execute-notebook`` job on that commit. Then the
variants run interleaved, medians of wall-clock time. Job start-up (image pulls, runner queues)
is not in the numbers: reuse also saves the notebook job's image pull on a GPU runner.

    python -m benchmarks reuse   # or: python -m benchmarks.bench_reuse [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.timing import run_checked, timed
from tests.gitlab_emulator import GitLabEmulator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NOTEBOOK = "notebooks/training_example.ipynb"
FILES = (NOTEBOOK, "training_config.yaml", "data")
ROUNDS = 3
TOKEN = "glpat-bench-0123456789"
TAG = "v1.0.0"
Runs = list[tuple[list[str], dict[str, str]]]


def _git(work: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.com"}
    return subprocess.run(["git", "-C", str(work), *args], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()


def _repo(work: Path) -> str:
    for name in FILES:
        source, target = ROOT / name, work / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "train")
    return _git(work, "rev-parse", "HEAD")


def _env(emu: GitLabEmulator, project: int, work: Path, sha: str, pipeline: int, job: int,
         **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "DS_", "GITLAB_"))}
    web = f"{emu.url}/group/ds-example/-"
    return {**clean, "CI": "true", "CI_SERVER_URL": emu.url, "CI_API_V4_URL": emu.api_url,
            "CI_PROJECT_ID": str(project), "CI_PROJECT_PATH": "group/ds-example",
            "CI_COMMIT_SHA": sha, "CI_PIPELINE_ID": str(pipeline),
            "CI_PIPELINE_URL": f"{web}/pipelines/{pipeline}", "CI_JOB_ID": str(job),
            "CI_JOB_URL": f"{web}/jobs/{job}", "CI_JOB_NAME": "execute-notebook",
            "GITLAB_TOKEN": TOKEN, "DS_IMAGE_TAG": "deps-bench", "DS_DEVICE": "cpu",
            "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", **extra}


def _train_on_main(emu: GitLabEmulator, project: int, work: Path, sha: str) -> None:
    pipeline = emu.add_pipeline(project, ref="main", sha=sha)
    job = emu.add_job(project, ref="main", name="execute-notebook", sha=sha, pipeline=pipeline)
    env = _env(emu, project, work, sha, pipeline.id, job.id)
    run_checked([str(BIN / "ds-runner"), "execute", "--output-dir", ".ds-runner", NOTEBOOK], work,
                env)
    folder = work / ".ds-runner"
    job.artifacts.update({p.relative_to(work).as_posix(): p.read_bytes()
                          for p in folder.rglob("*") if p.is_file()})
    shutil.rmtree(folder)


def _variants(emu: GitLabEmulator, project: int, work: Path, sha: str) -> dict[str, Runs]:
    ds = str(BIN / "ds-runner")
    tag = _env(emu, project, work, sha, 900, 9000, CI_COMMIT_TAG=TAG,
               CI_PIPELINE_SOURCE="push")
    # detect's JSON goes to detect.json through the shell, as in the template
    message = shlex.quote(f"release [run {NOTEBOOK}]")
    detect = ["sh", "-c", f"{shlex.quote(ds)} detect --json --message {message} > detect.json"]
    execute = [ds, "execute", "--from-detect", "detect.json", "--output-dir", ".ds-runner"]
    release = [ds, "release"]
    return {
        "with reuse (detect, execute: nothing, collect --reused, release)": [
            (detect, tag), (execute, tag), ([ds, "collect", "--reused", "detect.json"], tag),
            (release, tag)],
        "without reuse (DS_REUSE=false: detect, execute trains, release)": [
            (detect, {**tag, "DS_REUSE": "false"}), (execute, tag), (release, tag)],
    }


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-reuse-"))
    emu = GitLabEmulator.start()
    try:
        emu.add_user("ds-bot", token=TOKEN)
        project = emu.add_project("group/ds-example", default_branch="main").id
        sha = _repo(work)
        _train_on_main(emu, project, work, sha)
        variants = _variants(emu, project, work, sha)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, runs in variants.items():
                shutil.rmtree(work / ".ds-runner", ignore_errors=True)
                samples[name].append(timed(runs, work))
    finally:
        emu.stop()
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {"rounds": rounds, "medians_s": medians, "samples_s": samples}


def table(data: dict[str, Any]) -> str:
    medians = data["medians_s"]
    slow = max(medians.values())
    lines = [f"The tag pipeline's ds-runner steps on the training example, medians of "
             f"{data['rounds']} interleaved rounds:", "",
             "| tag pipeline | median (s) | runs (s) | share of the run without reuse |",
             "|---|---:|---|---:|"]
    for name, median in medians.items():
        runs = ", ".join(f"{v:.1f}" for v in data["samples_s"][name])
        lines.append(f"| {name} | {median:.1f} | {runs} | {median / slow:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args([] if argv is None else argv)
    print(table(run(args.rounds)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
