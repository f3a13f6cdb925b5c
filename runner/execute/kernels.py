"""Choosing the kernel (the notebook's own, or an installed kernel of the same language), a
kernel manager whose kernel, and what the kernel starts, never outlive ds-runner, and starting
that kernel ahead of papermill (``start_kernel``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import UsageError

logger = logging.getLogger(__name__)

NATIVE = "python3"  # jupyter_client's name for the kernel of the running interpreter


@dataclass(frozen=True)
class KernelChoice:
    name: str
    language: str
    fallback_from: str | None = None  # the notebook's kernel name when it was not installed


def notebook_language(metadata: Mapping[str, Any]) -> str:
    spec = metadata.get("kernelspec") or {}
    info = metadata.get("language_info") or {}
    return str(spec.get("language") or info.get("name") or "python").lower()


def choose_kernel(metadata: Mapping[str, Any], requested: str | None = None,
                  where: str = "notebook", warn: bool = True) -> KernelChoice:
    """The kernel to run notebook ``where`` on (messages name it).

    ``requested`` (``--kernel``) must be installed. Otherwise the notebook's kernelspec is used
    when installed (``python`` means ``python3``, as in jupyter_client and papermill); if not,
    an installed kernel of the same language (``python3`` first for Python) replaces it, with a
    warning, instead of papermill's ``NoSuchKernel``.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    manager = KernelSpecManager()
    installed = manager.find_kernel_specs()
    language = notebook_language(metadata)
    if requested:
        if requested not in installed:
            raise UsageError(f"{where}: kernel '{requested}' is not installed "
                             f"(installed: {', '.join(sorted(installed))})")
        return KernelChoice(requested, language)
    wanted = str((metadata.get("kernelspec") or {}).get("name") or "")
    if wanted in installed:
        return KernelChoice(wanted, language)
    if wanted == "python" and NATIVE in installed:  # jupyter_client's own alias
        return KernelChoice(NATIVE, language)
    candidates = sorted(installed, key=lambda name: (name != NATIVE, name))
    for name in candidates:
        try:
            spec_language = manager.get_kernel_spec(name).language.lower()
        except Exception:  # a broken kernel.json elsewhere must not stop us
            logger.debug("skipping unreadable kernelspec %s", name, exc_info=True)
            continue
        if spec_language == language:
            if warn and wanted:
                logger.warning("%s: asks for kernel '%s', which is not installed; using '%s' "
                               "(%s) instead", where, wanted, name, language)
            elif warn:
                logger.info("%s: has no kernelspec; using '%s' (%s)", where, name, language)
            return KernelChoice(name, language, fallback_from=wanted or None)
    asked = f"asks for kernel '{wanted}', which is not installed," if wanted \
        else "has no kernelspec"
    raise UsageError(f"{where}: {asked} and no installed kernel runs {language} "
                     f"(installed: {', '.join(sorted(installed)) or 'none'})")


def bound_kernel_manager() -> type:
    """jupyter_client's AsyncKernelManager with the kernel session tied to us
    (runner.execute.reaper): the kernel gets Linux's parent-death signal, its session is
    registered while it runs, and whatever is left in the session is killed when the kernel's
    resources are cleaned up."""
    from jupyter_client.manager import AsyncKernelManager

    from runner.execute import reaper

    class BoundKernelManager(AsyncKernelManager):
        session_pgid: int | None = None

        # Async like AsyncKernelManager's own, which overrides the same way.
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            parent = os.getpid()
            kw.setdefault("preexec_fn", lambda: reaper.die_with_parent(parent))
            try:
                await super().start_kernel(**kw)
            finally:
                pgid = getattr(self.provisioner, "pgid", None)
                if pgid:
                    self.session_pgid = pgid
                    reaper.watch_kernel(pgid)

        async def cleanup_resources(  # type: ignore[override]
                self, restart: bool = False) -> None:
            try:
                await super().cleanup_resources(restart=restart)
            finally:
                if self.session_pgid:
                    reaper.release_kernel(self.session_pgid)

    return BoundKernelManager


def encryption() -> str:
    """CurveZMQ between us and a kernel whose kernelspec supports it (ipykernel 7's python3),
    which also ends its "running over TCP without encryption" warning; TCP stays, which
    nbclient's cell timeouts need."""
    import zmq

    return "auto" if zmq.has("curve") else "disabled"


def start_kernel(name: str, cwd: Path, env: Mapping[str, str]) -> Any:
    """Launch kernel ``name`` now and return its (bound) manager, without waiting for it to be
    ready: it boots while we import papermill and prepare the notebook. It starts on this
    thread's event loop, the one nbclient runs on later when it gets the manager (``km=``),
    with the arguments nbclient would give it (its history in memory)."""
    from jupyter_core.utils import run_sync

    manager = bound_kernel_manager()(kernel_name=name)
    extra = ["--HistoryManager.hist_file=:memory:"] if manager.ipykernel else []
    run_sync(manager.start_kernel)(extra_arguments=extra, env=dict(env), cwd=str(cwd),
                                   transport_encryption=encryption())
    logger.debug("kernel %s started ahead (pid %s)", name,
                 getattr(manager.provisioner, "pid", None))
    return manager


def stop_kernel(manager: Any) -> None:
    """Shut a kernel from ``start_kernel`` down at once, if it is still there (idempotent)."""
    from jupyter_core.utils import run_sync

    if manager.has_kernel:
        run_sync(manager.shutdown_kernel)(now=True)
