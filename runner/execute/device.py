"""``device`` for notebooks: ``cuda`` when a GPU is visible to the job, else ``cpu``."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Mapping

DEVICE_ENV = "DS_DEVICE"
_HIDDEN = {"", "-1", "none", "void", "nodevfiles"}


def detect_device(environ: Mapping[str, str] | None = None) -> str:
    """``$DS_DEVICE`` if set; ``cpu`` if CUDA_VISIBLE_DEVICES hides every GPU; ``cuda`` when
    NVIDIA device files exist or ``nvidia-smi -L`` lists a GPU; else ``cpu``.

    NVIDIA_VISIBLE_DEVICES alone is not trusted: CUDA base images set it to ``all`` even on
    runners without a GPU.
    """
    env = os.environ if environ is None else environ
    forced = env.get(DEVICE_ENV, "").strip()
    if forced:
        return forced
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip().lower() in _HIDDEN:
        return "cpu"
    if glob.glob("/dev/nvidia[0-9]*"):
        return "cuda"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "cpu"
        if done.returncode == 0 and "GPU" in done.stdout:
            return "cuda"
    return "cpu"
