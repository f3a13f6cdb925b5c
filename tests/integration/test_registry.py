"""RegistryClient against a real docker-registry: token (Bearer) and htpasswd (Basic) auth."""

from __future__ import annotations

import pytest
import requests

from runner.build.oci import ACCEPT, MANIFEST_MEDIA_TYPES, ImageRef, RegistryClient
from runner.errors import RegistryError
from tests.registry_helpers import (
    PASSWORD,
    USER,
    Registry,
    Storage,
    TokenRequest,
    free_port,
    needs_buildah,
    needs_registry,
    push_image,
)

pytest_plugins = ("tests.registry_helpers",)  # the registry and buildah fixtures
pytestmark = [pytest.mark.integration, needs_registry, needs_buildah]
REPO = "group/project/notebook"


def test_image_ref_from_ci_registry_image() -> None:
    ref = ImageRef.from_parts("registry.example.com:5050/group/project", "notebook", "deps-1")
    assert (ref.registry, ref.repository) == ("registry.example.com:5050", REPO)
    assert str(ref) == "registry.example.com:5050/group/project/notebook:deps-1"
    assert str(ImageRef.from_parts("r.io/g/p", "", "t")) == "r.io/g/p:t"
    assert len(MANIFEST_MEDIA_TYPES) == 4 and "oci.image.index" in ACCEPT


def test_bearer_challenge_flow(token_registry: Registry, buildah_storage: Storage) -> None:
    client = RegistryClient(token_registry.host, USER, PASSWORD, insecure=True)
    assert client.manifest_exists(REPO, "v1") is False
    push_image(buildah_storage, token_registry, f"{token_registry.host}/{REPO}:v1")
    assert client.manifest_exists(REPO, "v1") is True
    assert token_registry.token_server is not None
    # buildah's own token requests (for the push) carry ``account``; ours do not.
    ours = [r for r in token_registry.token_server.requests if "account" not in r.query]
    # One token fetched, with Basic user:password, for the scope the challenge named.
    assert ours == [TokenRequest("/jwt/auth", USER, {"scope": [f"repository:{REPO}:pull"],
                                                     "service": ["container_registry"]})]


def test_head_sends_every_manifest_media_type(token_registry: Registry,
                                              buildah_storage: Storage) -> None:
    push_image(buildah_storage, token_registry, f"{token_registry.host}/{REPO}:v1")
    client = RegistryClient(token_registry.host, USER, PASSWORD, insecure=True)
    assert client.manifest_exists(REPO, "v1")
    # The same token with only an OCI index Accept: the registry then says it is unknown,
    # so a HEAD without the Docker v2 type would miss images buildah pushes in docker format.
    token = client._auth_headers["Authorization"]
    narrow = requests.head(f"{token_registry.url}/v2/{REPO}/manifests/v1", timeout=5,
                           headers={"Authorization": token,
                                    "Accept": "application/vnd.oci.image.index.v1+json"})
    assert narrow.status_code == 404


def test_wrong_password_is_refused_at_the_token_service(token_registry: Registry) -> None:
    client = RegistryClient(token_registry.host, USER, "wrong-password-123", insecure=True)
    with pytest.raises(RegistryError, match="refused the credentials") as info:
        client.manifest_exists(REPO, "v1")
    assert "wrong-password-123" not in str(info.value)


def test_no_credentials_on_basic_registry(htpasswd_registry: Registry) -> None:
    with pytest.raises(RegistryError, match="needs credentials"):
        RegistryClient(htpasswd_registry.host, insecure=True).manifest_exists(REPO, "v1")


def test_basic_challenge_flow(htpasswd_registry: Registry, buildah_storage: Storage) -> None:
    client = RegistryClient(htpasswd_registry.host, USER, PASSWORD, insecure=True)
    assert client.manifest_exists(REPO, "v1") is False
    push_image(buildah_storage, htpasswd_registry, f"{htpasswd_registry.host}/{REPO}:v1")
    assert client.manifest_exists(REPO, "v1") is True
    bad = RegistryClient(htpasswd_registry.host, USER, "not-the-password", insecure=True)
    with pytest.raises(RegistryError, match=r"refused the credentials \(HTTP 401"):
        bad.manifest_exists(REPO, "v1")


def test_registry_down_is_a_clear_error() -> None:
    host = f"127.0.0.1:{free_port()}"
    expected = rf"^registry {host} unreachable \(connection refused\)$"
    with pytest.raises(RegistryError, match=expected):
        RegistryClient(host, USER, PASSWORD, insecure=True).manifest_exists(REPO, "v1")
