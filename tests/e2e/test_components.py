"""The component tests of .gitlab-ci.yml (tests/e2e/components/*.gitlab-ci.yml), run here with
gitlab-ci-local: each includes one component at this commit plus a job that checks its work."""

from __future__ import annotations

import pytest

from runner import __version__
from tests.e2e.conftest import TOKEN, Env
from tests.e2e.gcl import INDEX, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
COMPONENT_TESTS = ROOT / "tests" / "e2e" / "components"
# build-container needs a container registry, which gitlab-ci-local's shell mode does not have;
# tests/integration covers `ds-runner build` against a real registry.
LOCAL = ["detect-notebooks", "execute-notebook", "execute-scheduled", "publish-metrics-comment",
         "write-to-wiki", "auto-release"]
JOB_TOKEN = "e2e-component-job-token"


def test_every_component_has_a_component_test() -> None:
    components = {p.stem for p in (ROOT / "templates").glob("*.yml")} - {"ds-pipeline"}
    tests = {p.name.removesuffix(".gitlab-ci.yml") for p in COMPONENT_TESTS.glob("*.yml")}
    assert components == tests


@pytest.mark.parametrize("component", LOCAL)
def test_component_test_pipeline_passes(component: str, e2e: Env) -> None:
    repo = e2e.repo(f"component-{component}")
    pipeline = (COMPONENT_TESTS / f"{component}.gitlab-ci.yml").read_text(encoding="utf-8")
    repo.commit(f"component test {component}", {".gitlab-ci.yml": pipeline})
    e2e.emulator.add_job(e2e.project_id, ref="main", name=f"test-check-{component}",
                         status="running", token=f"{JOB_TOKEN}-{component}")
    run = repo.gitlab_ci_local(
        "--input", f"runner_version={__version__}", "--input", f"runner_index={INDEX}",
        variables={"GITLAB_TOKEN": TOKEN, "CI_JOB_TOKEN": f"{JOB_TOKEN}-{component}"})
    assert run.returncode == 0, run.output[-4000:]
    results = run.job_results()
    assert results.get(f"test-check-{component}", "PASS") == "PASS", run.output[-4000:]
    assert set(results.values()) == {"PASS"}, results
    if component == "auto-release":
        assert "would create release v99.99.99" in run.output, run.output[-3000:]
    assert e2e.emulator.release(e2e.project_id, "v99.99.99") is None


def test_project_pipeline_parses_under_gitlab_ci_local(e2e: Env) -> None:
    """This project's own .gitlab-ci.yml passes gitlab-ci-local's (newer) copy of the schema."""
    repo = e2e.repo("project-pipeline")
    repo.commit("own pipeline", {".gitlab-ci.yml": (ROOT / ".gitlab-ci.yml").read_text()})
    run = repo.gitlab_ci_local("--list")
    assert run.returncode == 0, run.output[-3000:]
    for job in ("lint", "unit", "test-suite", "component-test: [auto-release]", "example"):
        assert job in run.stdout, run.stdout
