"""A production image per release against the real docker-registry: the release tag is a copy of
the content-hash tag's manifest (same bytes, same digest), never a rebuild; and ``ds-runner
release`` tags it only on a production tag whose gates passed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.build.hashing import content_hash
from runner.build.image import Login
from runner.build.oci import Manifest, RegistryClient
from runner.build.promote import ProjectRegistry, release_image
from runner.cli import main
from runner.errors import RegistryError
from tests.gitlab_emulator import GitLabEmulator
from tests.publish_helpers import Scene, make_scene
from tests.registry_helpers import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PASSWORD,
    USER,
    Registry,
    manifest_of,
    needs_registry,
    push_tiny_image,
    tags_of,
)
from tests.report_helpers import make_result

pytest_plugins = ("tests.registry_helpers",)  # the registry fixtures
pytestmark = [pytest.mark.integration, needs_registry]
REPO = "group/project/notebook"


def project_registry(registry: Registry, password: str = PASSWORD) -> ProjectRegistry:
    return ProjectRegistry(f"{registry.host}/group/project", Login(USER, password, True))


def push_tokens(registry: Registry) -> int:
    """How many tokens with push scope were asked for so far (a PUT needs one)."""
    assert registry.token_server is not None
    return sum("push" in scope for r in registry.token_server.requests
               for scope in r.query.get("scope", []))


@pytest.mark.parametrize("media_type", [DOCKER_MANIFEST, OCI_MANIFEST, OCI_INDEX])
def test_release_tag_is_the_same_manifest(token_registry: Registry, media_type: str) -> None:
    digest = push_tiny_image(token_registry, REPO, "deps-1", media_type)
    source = f"{token_registry.host}/{REPO}:deps-1"
    done = release_image(source, "v1.0.0", project_registry(token_registry))
    assert done.tagged and done.image == f"{token_registry.host}/{REPO}:v1.0.0"
    assert done.digest == digest and done.message.startswith(f"tagged {source} as ")
    copied, original = (manifest_of(token_registry, REPO, t) for t in ("v1.0.0", "deps-1"))
    assert copied.status_code == 200 and copied.content == original.content
    assert copied.headers["Content-Type"] == media_type
    assert copied.headers["Docker-Content-Digest"] == digest
    assert tags_of(token_registry, REPO) == ["deps-1", "v1.0.0"]


def test_rerun_is_a_noop_and_dry_run_writes_nothing(token_registry: Registry) -> None:
    push_tiny_image(token_registry, REPO, "deps-1")
    source, registry = f"{token_registry.host}/{REPO}:deps-1", project_registry(token_registry)
    planned = release_image(source, "v1.0.0", registry, dry_run=True)
    assert planned.message.startswith(f"would tag {source} as ") and not planned.tagged
    assert tags_of(token_registry, REPO) == ["deps-1"] and push_tokens(token_registry) == 0
    assert release_image(source, "v1.0.0", registry).tagged
    asked = push_tokens(token_registry)
    again = release_image(source, "v1.0.0", registry)
    assert not again.tagged and "already names" in again.message and "nothing to tag" in \
        again.message
    assert push_tokens(token_registry) == asked           # no second PUT, so no push token
    same = release_image(again.image, "v1.0.0", registry)  # DS_IMAGE is :v1.0.0 already
    assert same.image == again.image and "is the release's image" in same.message


def test_a_production_tag_is_not_moved(token_registry: Registry) -> None:
    first = push_tiny_image(token_registry, REPO, "deps-1", seed="one")
    push_tiny_image(token_registry, REPO, "deps-2", seed="two")
    registry = project_registry(token_registry)
    release_image(f"{token_registry.host}/{REPO}:deps-1", "v1.0.0", registry)
    with pytest.raises(RegistryError, match=r"already names another image .* delete the tag"):
        release_image(f"{token_registry.host}/{REPO}:deps-2", "v1.0.0", registry)
    assert manifest_of(token_registry, REPO, "v1.0.0").headers["Docker-Content-Digest"] == first


def test_missing_source_names_it_and_build_container(token_registry: Registry) -> None:
    source = f"{token_registry.host}/{REPO}:deps-missing"
    with pytest.raises(RegistryError) as info:
        release_image(source, "v1.0.0", project_registry(token_registry))
    assert str(info.value) == (f"image {source} is not in the registry: build-container must "
                               "have pushed it before v1.0.0 is released; no release created")


def test_basic_auth_registry_and_password_kept_out(htpasswd_registry: Registry) -> None:
    push_tiny_image(htpasswd_registry, REPO, "deps-1")
    source = f"{htpasswd_registry.host}/{REPO}:deps-1"
    assert release_image(source, "v2.0.0", project_registry(htpasswd_registry)).tagged
    with pytest.raises(RegistryError, match="refused the credentials") as info:
        release_image(source, "v2.0.1", project_registry(htpasswd_registry, "wrong-pw-4711"))
    assert "wrong-pw-4711" not in str(info.value)


def test_a_refused_put_names_the_registry_error(token_registry: Registry) -> None:
    """A manifest whose blobs the repository lacks: the registry's own error code comes back."""
    body = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
        "digest": "sha256:" + "0" * 64}, "layers": []}).encode()
    client = RegistryClient(token_registry.host, USER, PASSWORD, insecure=True)
    with pytest.raises(RegistryError, match=r"PUT group/project/notebook:v9 answered HTTP 400: "
                                            r"MANIFEST_BLOB_UNKNOWN"):
        client.put_manifest(REPO, "v9", Manifest(body, DOCKER_MANIFEST, "sha256:x"))


@pytest.mark.parametrize("image", ["python:3.12", "quay.io/other/image:1.0",
                                   "registry.example.com/group/project-two/notebook:deps-1"])
def test_images_outside_the_project_registry_are_linked_as_they_are(image: str) -> None:
    """No registry is running: nothing is asked of it for an image it does not hold."""
    registry = ProjectRegistry("registry.example.com/group/project", Login(USER, PASSWORD))
    done = release_image(image, "v1.0.0", registry)
    assert done.image == image and not done.tagged and "linked as it is" in done.message


# --- ds-runner release against the emulator and the registry ---------------------------------

@pytest.fixture
def scene(emulator: GitLabEmulator, token_registry: Registry, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Scene:
    s = make_scene(emulator, tmp_path, monkeypatch, capsys, mr=False)
    s.pipeline(500, CI_COMMIT_TAG="v1.0.0",
               DS_IMAGE=f"{token_registry.host}/group/ds-example/notebook:deps-abc",
               CI_REGISTRY_IMAGE=f"{token_registry.host}/group/ds-example",
               CI_REGISTRY_USER=USER, CI_REGISTRY_PASSWORD=PASSWORD,
               DS_REGISTRY_INSECURE="true")
    s.write()
    return s


NOTEBOOK_REPO = "group/ds-example/notebook"


def test_release_gets_its_production_image(scene: Scene, token_registry: Registry) -> None:
    digest = push_tiny_image(token_registry, NOTEBOOK_REPO, "deps-abc")
    code, out = scene.run("release")
    assert code == 0, out
    image = f"{token_registry.host}/{NOTEBOOK_REPO}:v1.0.0"
    assert manifest_of(token_registry, NOTEBOOK_REPO, "v1.0.0").headers[
        "Docker-Content-Digest"] == digest
    rel = scene.emu.release(scene.project_id, "v1.0.0")
    assert rel is not None and f"`{image}`" in rel.description
    [link] = [ln for ln in rel.links if ln.link_type == "image"]
    assert link.name == f"Container image {image}"
    assert f"tagged {token_registry.host}/{NOTEBOOK_REPO}:deps-abc as {image}" in out
    assert out.index("tagged ") < out.index("created release v1.0.0")
    assert PASSWORD not in out
    code, out = scene.run("release")                     # the same tag pipeline, re-run
    assert code == 0 and "nothing to tag" in out and "updated existing release" in out
    [rel] = scene.emu.releases(scene.project_id)
    assert [ln.name for ln in rel.links if ln.link_type == "image"] == [link.name]


def test_missing_source_image_exits_6_and_releases_nothing(scene: Scene) -> None:
    code, out = scene.run("release")
    assert code == 6, out
    assert "notebook:deps-abc is not in the registry: build-container must have pushed it" in out
    assert scene.emu.releases(scene.project_id) == [] and scene.writes() == []


def test_dev_tag_gets_no_image_tag(scene: Scene, token_registry: Registry) -> None:
    push_tiny_image(token_registry, NOTEBOOK_REPO, "deps-abc")
    scene.monkeypatch.setenv("CI_COMMIT_TAG", "dev-1.0.0")
    code, out = scene.run("release")
    assert code == 0 and "not a production tag" in out
    assert tags_of(token_registry, NOTEBOOK_REPO) == ["deps-abc"]


def test_failed_gates_get_no_image_tag(scene: Scene, token_registry: Registry) -> None:
    push_tiny_image(token_registry, NOTEBOOK_REPO, "deps-abc")
    scene.write(make_result(metrics={"auc": 0.9, "logloss": 0.5}))
    code, out = scene.run("release")
    assert code == 7, out
    assert tags_of(token_registry, NOTEBOOK_REPO) == ["deps-abc"]
    assert scene.emu.releases(scene.project_id) == []


def test_dry_run_says_what_it_would_tag(scene: Scene, token_registry: Registry) -> None:
    push_tiny_image(token_registry, NOTEBOOK_REPO, "deps-abc")
    code, out = scene.run("release", "--dry-run")
    assert code == 0, out
    assert (f"would tag {token_registry.host}/{NOTEBOOK_REPO}:deps-abc as "
            f"{token_registry.host}/{NOTEBOOK_REPO}:v1.0.0") in out
    assert tags_of(token_registry, NOTEBOOK_REPO) == ["deps-abc"]
    assert scene.emu.releases(scene.project_id) == []


# --- build-container in a production tag's pipeline (a schedule on v1.0.0) ------------------

@pytest.fixture
def build_env(token_registry: Registry, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path, str]:
    """``ds-runner build`` arguments for a project whose base image cannot be pulled here, so
    a build attempt would fail: (arguments, dotenv, content-hash tag)."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY requirements.txt /r.txt\n")
    (root / "requirements.txt").write_text("numpy==2.1.0\n")
    for name in ("CI_COMMIT_TAG", "DS_PRODUCTION_TAG_REGEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI_REGISTRY_USER", USER)
    monkeypatch.setenv("CI_REGISTRY_PASSWORD", PASSWORD)
    dotenv = tmp_path / "build.env"
    args = ["build", "--registry-image", f"{token_registry.host}/group/project", "--repo",
            str(root), "--insecure-registry", "--dotenv", str(dotenv)]
    return args, dotenv, content_hash(root, ()).tag


def dotenv_of(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_a_released_tag_runs_in_its_image(token_registry: Registry,
                                          build_env: tuple[list[str], Path, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    args, dotenv, hashed = build_env
    push_tiny_image(token_registry, REPO, "v1.0.0")       # made by an earlier release
    monkeypatch.setenv("CI_COMMIT_TAG", "v1.0.0")
    assert main(args) == 0                                # the content-hash tag is absent
    assert dotenv_of(dotenv) == {"DS_IMAGE": f"{token_registry.host}/{REPO}:v1.0.0",
                                 "DS_IMAGE_TAG": hashed, "DS_IMAGE_BUILT": "false"}


def test_the_releasing_pipeline_and_dev_tags_run_in_the_content_hash_image(
        token_registry: Registry, build_env: tuple[list[str], Path, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    args, dotenv, hashed = build_env
    push_tiny_image(token_registry, REPO, hashed)
    push_tiny_image(token_registry, REPO, "dev-1.0.0")    # not a production tag: ignored
    for tag in ("v1.0.0", "dev-1.0.0"):                   # v1.0.0: not released yet
        monkeypatch.setenv("CI_COMMIT_TAG", tag)
        assert main(args) == 0
        assert dotenv_of(dotenv)["DS_IMAGE"] == f"{token_registry.host}/{REPO}:{hashed}"
