"""``ds-runner build``: build and push the notebook image unless its content-hash tag exists
(or, in a production tag's pipeline, the release's image ``:<tag>`` exists)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from runner import log
from runner.build.hashing import parse_build_args
from runner.build.image import BUILDERS, Source, Storage, ensure_image
from runner.build.options import login_from, login_options
from runner.models import production_tag

_PATH = click.Path(path_type=Path)


@click.command("build")
@click.option("--registry-image", envvar="CI_REGISTRY_IMAGE", required=True,
              help="host[:port]/project path the image goes under. Env: CI_REGISTRY_IMAGE.")
@click.option("--image-name", envvar="DS_IMAGE_NAME", default="notebook", show_default=True,
              help="Image name under the registry image ('' for the registry image itself).")
@click.option("--file", "-f", "files", multiple=True, envvar="DS_HASH_FILES",
              help="Extra file or directory to hash; repeat. Env: DS_HASH_FILES.")
@click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE",
              envvar="DS_BUILD_ARGS", help="Passed to the builder and hashed; repeat.")
@click.option("--dockerfile", default="Dockerfile", envvar="DS_DOCKERFILE", show_default=True)
@click.option("--context", default=".", envvar="DS_BUILD_CONTEXT", show_default=True,
              help="Build context, relative to --repo.")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=".", envvar="CI_PROJECT_DIR", show_default=True)
@login_options
@click.option("--builder", type=click.Choice(sorted(BUILDERS)), default="buildah",
              envvar="DS_BUILDER", show_default=True)
@click.option("--commit-tag", envvar="CI_COMMIT_TAG", default="",
              help="Tag of a tag pipeline (also a schedule on a tag). Env: CI_COMMIT_TAG.")
@click.option("--production-tag-regex", envvar="DS_PRODUCTION_TAG_REGEX", default="",
              help="Production tags, as for release (default ^v\\d+\\.\\d+\\.\\d+$): when "
                   "--commit-tag is one and the image :<tag> exists, DS_IMAGE is that image.")
@click.option("--storage-driver", envvar="DS_STORAGE_DRIVER",
              help="buildah storage driver (default: vfs when overlay cannot work, else overlay).")
@click.option("--storage-root", type=_PATH, envvar="DS_STORAGE_ROOT",
              help="buildah --root (image storage).")
@click.option("--storage-runroot", type=_PATH, envvar="DS_STORAGE_RUNROOT",
              help="buildah --runroot.")
@click.option("--dotenv", type=_PATH, envvar="DS_BUILD_DOTENV",
              help="Write DS_IMAGE, DS_IMAGE_TAG, DS_IMAGE_BUILT here (artifacts:reports:dotenv).")
@click.option("--force", is_flag=True, help="Build and push even when the tag exists.")
@click.option("--dry-run", is_flag=True,
              help="Check the registry and show what would run; build, push and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(registry_image: str, image_name: str, files: tuple[str, ...],
            build_args: tuple[str, ...], dockerfile: str, context: str, repo: Path,
            builder: str, commit_tag: str, production_tag_regex: str,
            storage_driver: str | None, storage_root: Path | None,
            storage_runroot: Path | None, dotenv: Path | None, force: bool, dry_run: bool,
            as_json: bool, **login: str | bool | None) -> int:
    """Build and push $CI_REGISTRY_IMAGE/<name>:<hash tag> only when the registry lacks it."""
    result = ensure_image(
        Source(repo, registry_image, image_name, files, parse_build_args(build_args),
               dockerfile, context),
        login_from(login), builder=builder,
        storage=Storage(storage_driver, storage_root, storage_runroot), dotenv=dotenv,
        dry_run=dry_run, force=force,
        release_tag=production_tag(commit_tag, production_tag_regex))
    if as_json:
        click.echo(json.dumps({"image": result.image, "tag": result.tag,
                               "digest": result.digest, "built": result.built,
                               "dry_run": result.dry_run}, indent=2))
    else:
        click.echo(result.image)
    if dry_run:
        for step in result.steps:
            click.echo(log.masker().mask("would run: " + " ".join(step.argv)), err=True)
    return 0
