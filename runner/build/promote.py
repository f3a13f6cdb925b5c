"""A production image per release: the image build-container made for the commit (content-hash
tag) also gets the release's tag (``:v1.2.3``), without rebuilding.

The registry API copies it: ``GET`` the manifest of the content-hash tag and ``PUT`` the same
bytes with the same ``Content-Type`` under the new tag, so both tags name one digest (OCI
distribution spec, "Pushing Manifests"; docs/gitlab-facts.md "Container registry"). A production
tag is not moved: a tag that already names this digest is left alone, one that names another
digest is an error (delete it in the registry to tag again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from runner.build.image import Login
from runner.build.oci import ImageRef, RegistryClient
from runner.errors import RegistryError, UsageError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectRegistry:
    """The project's container registry (``$CI_REGISTRY_IMAGE``) and the job's credentials."""

    image: str
    login: Login = field(default_factory=Login)


@dataclass(frozen=True)
class Promotion:
    """What the release links as its image, and the line that says what happened."""

    image: str
    message: str
    digest: str = ""
    tagged: bool = False


def release_image(image: str, tag: str, registry: ProjectRegistry, *,
                  dry_run: bool = False) -> Promotion:
    """Tag ``image`` (``host/path:content-hash``) as ``host/path:<tag>`` in the same repository.

    An image outside the project's registry (build-container's ``image`` input) is linked as
    it is: its blobs are not in this registry. RegistryError when the source is missing or the
    tag names another digest; ``dry_run`` reads the registry and writes nothing.
    """
    try:
        source: ImageRef | None = ImageRef.parse(image)
    except UsageError:                  # python:3.12 and the like: no registry host, or no tag
        source = None
    if source is None or not source.within(registry.image):
        return Promotion(image, f"{image} is not a tagged image in the project's registry "
                                f"({registry.image}): linked as it is, no {tag} image tag")
    target = ImageRef(source.registry, source.repository, tag)
    login = registry.login
    client = RegistryClient(source.registry, login.username, login.password,
                            insecure=login.insecure)
    manifest = client.get_manifest(source.repository, source.tag)
    if manifest is None:
        raise RegistryError(f"image {image} is not in the registry: build-container must have "
                            f"pushed it before {tag} is released; no release created")
    short = manifest.digest[:19]
    if source.tag == tag:
        return Promotion(image, f"{image} is the release's image ({short})", manifest.digest)
    present = client.get_manifest(target.repository, target.tag)
    if present is not None and present.digest == manifest.digest:
        return Promotion(str(target), f"{target} already names {image} ({short}): nothing to "
                                      "tag", manifest.digest)
    if present is not None:
        raise RegistryError(f"{target} already names another image ({present.digest[:19]}; "
                            f"{image} is {short}): a production image tag is not moved; "
                            f"delete the tag {tag} in the container registry to tag it again")
    if dry_run:
        return Promotion(str(target), f"would tag {image} as {target} ({short})",
                         manifest.digest)
    digest = client.put_manifest(target.repository, target.tag, manifest)
    if digest != manifest.digest:
        raise RegistryError(f"registry stored {target} as {digest}, not as {manifest.digest}")
    logger.debug("%s -> %s (%s, %s)", image, target, manifest.media_type, digest)
    return Promotion(str(target), f"tagged {image} as {target} ({short}), without "
                                  "rebuilding", digest, tagged=True)
