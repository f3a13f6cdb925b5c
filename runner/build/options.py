"""Click options shared by ``ds-runner build`` and ``ds-runner release``: the container registry
and its login, from GitLab's predefined variables (``CI_REGISTRY_IMAGE``, ``CI_REGISTRY_USER``,
``CI_REGISTRY_PASSWORD``), so both commands log in the same way and mask the same password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from runner import log
from runner.build.image import Login

F = TypeVar("F", bound=Callable[..., Any])


def login_options(fn: F) -> F:
    """Add ``--registry-user``, ``--registry-password`` and ``--insecure-registry``."""
    for option in reversed([
        click.option("--registry-user", envvar="CI_REGISTRY_USER",
                     help="Env: CI_REGISTRY_USER."),
        click.option("--registry-password", envvar="CI_REGISTRY_PASSWORD",
                     help="Env: CI_REGISTRY_PASSWORD (prefer the variable to the option)."),
        click.option("--insecure-registry", "insecure", is_flag=True,
                     envvar="DS_REGISTRY_INSECURE",
                     help="Plain HTTP registry (no TLS). Env: DS_REGISTRY_INSECURE."),
    ]):
        fn = option(fn)
    return fn


def login_from(kwargs: dict[str, Any]) -> Login:
    """Pop the login options into a Login; the password joins the log masker first."""
    user, password = kwargs.pop("registry_user"), kwargs.pop("registry_password")
    if password:
        log.masker().add([password])
    return Login(user, password, bool(kwargs.pop("insecure")))
