"""The GitLab CI context of a publishing command: predefined variables, overridable by flags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from runner.errors import MissingContextError, MissingTokenError
from runner.gitlab_client import GitLabClient
from runner.masking import Masker, masker_for
from runner.report.render import RunContext

WHY_NO_JOB_TOKEN = {
    "comment": "GitLab does not accept CI_JOB_TOKEN for writing merge-request notes",
    "wiki": "GitLab does not accept CI_JOB_TOKEN for the wiki API",
    "monitor": "GitLab does not accept CI_JOB_TOKEN for starting pipelines or listing them",
}


@dataclass
class CiEnv:
    server_url: str = ""
    api_url: str = ""
    project: str = ""          # CI_PROJECT_ID (or a path)
    project_path: str = ""     # CI_PROJECT_PATH, for web links
    pipeline_id: str = ""
    pipeline_url: str = ""
    job_url: str = ""
    commit_sha: str = ""
    commit_tag: str = ""
    mr_iid: str = ""
    target_branch: str = ""
    default_branch: str = ""
    token: str = ""            # GITLAB_TOKEN
    job_token: str = ""        # CI_JOB_TOKEN

    @property
    def base_url(self) -> str:
        if self.server_url:
            return self.server_url.rstrip("/")
        api = self.api_url.rstrip("/")
        return api[: -len("/api/v4")] if api.endswith("/api/v4") else ""

    def web_url(self, suffix: str) -> str:
        """``<server>/<project path>/-/<suffix>``; "" when either is unknown."""
        if not (self.base_url and self.project_path):
            return ""
        return f"{self.base_url}/{self.project_path}/-/{suffix}"

    def run_context(self) -> RunContext:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return RunContext(
            pipeline_id=self.pipeline_id, pipeline_url=self.pipeline_url, job_url=self.job_url,
            commit_sha=self.commit_sha,
            commit_url=self.web_url(f"commit/{self.commit_sha}") if self.commit_sha else "",
            time=now)

    def masker(self) -> Masker:
        """What every sink masks its output with: secret-looking variables and both tokens."""
        return masker_for(self.token, self.job_token)

    def client(self, command: str, *, dry_run: bool, echo: Callable[[str], None],
               job_token_ok: bool = False) -> GitLabClient:
        """A client with GITLAB_TOKEN, or CI_JOB_TOKEN where GitLab accepts it."""
        if not self.base_url:
            raise MissingContextError(f"ds-runner {command}: no GitLab URL; set CI_SERVER_URL "
                                      "or pass --server-url")
        if not self.project:
            raise MissingContextError(f"ds-runner {command}: no project; set CI_PROJECT_ID "
                                      "or pass --project")
        if not self.token and not (job_token_ok and self.job_token):
            why = WHY_NO_JOB_TOKEN.get(command, "")
            if self.job_token and why:
                raise MissingTokenError(
                    f"ds-runner {command}: GITLAB_TOKEN is not set and {why}; set GITLAB_TOKEN "
                    "to a project or personal access token with the api scope (Developer role)")
            raise MissingTokenError(f"ds-runner {command}: no token; set GITLAB_TOKEN (a project "
                                    "or personal access token with the api scope)")
        return GitLabClient(self.base_url, self.project, private_token=self.token or None,
                            job_token=None if self.token else self.job_token,
                            dry_run=dry_run, echo=echo)
