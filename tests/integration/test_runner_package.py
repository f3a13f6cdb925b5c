"""ds-runner shipped as the catalog ships it: the wheel from a PyPI index, and the runner image.

The wheel and sdist of this working tree go to a real PyPI-compatible index (pypiserver) with
twine, and the templates' one-line step installs the runner by version from there into a fresh
venv, as a job in an image without ds-runner does from the component project's package
registry. Dockerfile.runner is built with buildah on a local Debian base with Python (no image
can be pulled here), pushed to a real registry, pulled back and run: ``ds-runner detect`` works
inside it, and the install step finds the runner there without any index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner import __version__
from tests.git_helpers import Repo
from tests.package_index import (
    ROOT,
    build_dist,
    build_runner_image,
    install_step,
    needs_index_tools,
    start_index,
)
from tests.registry_helpers import (
    PASSWORD,
    USER,
    Registry,
    Storage,
    needs_buildah,
    needs_debootstrap,
    needs_registry,
)

pytest_plugins = ("tests.registry_helpers",)  # the registry and buildah fixtures
pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
WHEEL = f"ds_pipeline_runner-{__version__}-py3-none-any.whl"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not (Path(sys.executable).parent / "uv").is_file():
        pytest.skip("uv is not installed in the venv")
    return build_dist(tmp_path_factory.mktemp("dist"))


def _job_env(path: str, index: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "DS_", "PIP_"))}
    return {**keep, "PATH": path, "DS_RUNNER_VERSION": __version__, "DS_RUNNER_INDEX": index,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_every_job_template_uses_the_same_one_line_step() -> None:
    step = install_step()
    assert "--index-url \"$DS_RUNNER_INDEX\"" in step and "git" not in step
    for template in sorted((ROOT / "templates").glob("*.yml")):
        if template.stem != "ds-pipeline":
            assert install_step(template.stem) == step, template.name


@needs_index_tools
def test_published_wheel_installs_by_version_with_the_template_step(
        dist: list[Path], tmp_path: Path) -> None:
    assert [p.name for p in dist] == [WHEEL, f"ds_pipeline_runner-{__version__}.tar.gz"]
    index = start_index(tmp_path / "index")
    try:
        assert index.upload(dist, password="wrong").returncode != 0
        published = index.upload(dist)
        assert published.returncode == 0, published.stdout + published.stderr
        again = index.upload(dist)  # a published version is never replaced (GitLab: 400)
        assert again.returncode != 0

        venv = tmp_path / "job-venv"  # an image with Python and pip, without ds-runner
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        env = _job_env(f"{venv / 'bin'}:/usr/bin:/bin", index.simple_url)
        first = subprocess.run(["bash", "-ec", install_step()], env=env, capture_output=True,
                               text=True, timeout=400)
        assert first.returncode == 0, first.stdout + first.stderr
        version = subprocess.run([str(venv / "bin" / "ds-runner"), "--version"],
                                 capture_output=True, text=True, check=True)
        assert version.stdout.strip() == f"ds-runner, version {__version__}"
        served = index.log.read_text()
        assert f"/packages/{WHEEL}" in served, served[-2000:]  # from the index, not PyPI
    finally:
        index.stop()

    # the runner is there now: the step passes without touching the (stopped) index
    second = subprocess.run(["bash", "-ec", install_step()], env=env, capture_output=True,
                            text=True, timeout=60)
    assert second.returncode == 0 and second.stdout == "", second.stdout + second.stderr


@needs_registry
@needs_buildah
@needs_debootstrap
def test_runner_image_carries_ds_runner_and_runs_detect(
        dist: list[Path], token_registry: Registry, buildah_storage: Storage,
        tmp_path: Path) -> None:
    image = build_runner_image(
        buildah_storage, dist[0],
        f"{token_registry.host}/ds-pipeline/ds-pipeline/ds-runner:{__version__}", tmp_path)
    buildah_storage.buildah("push", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                            image, f"docker://{image}")
    buildah_storage.buildah("rmi", image)

    repo = Repo(tmp_path / "repo")
    repo.commit("add a notebook", {"notebooks/train.ipynb": "{}"})
    container = buildah_storage.buildah(
        "from", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
        f"docker://{image}").strip()
    try:
        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["buildah", *buildah_storage.options(), "run", "--isolation", "chroot",
                 "-v", f"{repo.path}:/builds/repo", "--workingdir", "/builds/repo",
                 "--env", f"DS_RUNNER_VERSION={__version__}",
                 "--env", "DS_RUNNER_INDEX=http://127.0.0.1:9/simple/", container, "--", *argv],
                capture_output=True, text=True, timeout=120,
                env={**os.environ, "BUILDAH_ISOLATION": "chroot"})

        detect = run("ds-runner", "detect", "--json", "--message", "[run notebooks/train.ipynb]")
        assert detect.returncode == 0, detect.stdout + detect.stderr
        found = json.loads(detect.stdout)
        assert found["notebooks"] == ["notebooks/train.ipynb"], found
        step = run("sh", "-ec", install_step())  # no index reachable: the image's own runner
        assert step.returncode == 0 and step.stdout == "", step.stdout + step.stderr
        slim = run("python3", "-c", "import xgboost")  # no notebook libraries in this image
        assert slim.returncode != 0
        # only MLflow's client (mlflow-skinny), which auto-release registers models with
        client = run("python3", "-c", "import mlflow, mlflow.tracking; import sklearn")
        assert "No module named 'sklearn'" in client.stderr, client.stdout + client.stderr
    finally:
        buildah_storage.buildah("rm", container)
