"""``ds-runner hash``: the content-hash image tag of Dockerfile + requirements.txt (+ more)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from runner.build.hashing import DEFAULT_PREFIX, content_hash, parse_build_args


@click.command("hash")
@click.option("--file", "-f", "files", multiple=True, envvar="DS_HASH_FILES",
              help="Extra file or directory (recursive) to hash; repeat. "
                   "Env: DS_HASH_FILES (space-separated).")
@click.option("--build-arg", "build_args", multiple=True, metavar="NAME=VALUE",
              help="Build argument that also goes into the hash (as `build` passes them).")
@click.option("--dockerfile", default="Dockerfile", envvar="DS_DOCKERFILE", show_default=True,
              help="Dockerfile path, relative to --repo.")
@click.option("--repo", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=".", envvar="CI_PROJECT_DIR", show_default=True,
              help="Repository root the paths are relative to.")
@click.option("--prefix", default=DEFAULT_PREFIX, envvar="DS_IMAGE_TAG_PREFIX",
              show_default=True, help="Tag prefix.")
@click.option("--json", "as_json", is_flag=True, help="Print digest, tag and files as JSON.")
def command(files: tuple[str, ...], build_args: tuple[str, ...], dockerfile: str, repo: Path,
            prefix: str, as_json: bool) -> int:
    """Print the image tag derived from the content hash of the image inputs."""
    result = content_hash(repo, files, parse_build_args(build_args), prefix=prefix,
                          dockerfile=dockerfile)
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else result.tag)
    return 0
