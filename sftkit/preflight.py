"""Stop a GPU stage at once when its job was given GPUs but its torch cannot use them.

Without this, a job whose environment has a CPU build of torch (the repo's ``.venv`` from ``make
test``, say) loads the model on CPU and runs for hours at a fraction of the speed, and nothing in
the log says why. ``SFTKIT_ALLOW_CPU=1`` is the opt-out for runs on CPU on purpose (the tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from sftkit.errors import InputError

_NO_GPUS = {"", "-1", "none", "NoDevFiles"}  # values that hide every GPU, or Slurm's "gres without devices"


def gpus_given(env: Mapping[str, str] = os.environ) -> str | None:
    """The variable that says this process was given GPUs (``CUDA_VISIBLE_DEVICES=0,1``), or None."""
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() not in _NO_GPUS:
        return f"CUDA_VISIBLE_DEVICES={visible}"
    if visible is None:  # Slurm sets these with the GPUs it allocated; CUDA_VISIBLE_DEVICES, when set, decides
        for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
            if env.get(name, "").strip():
                return f"{name}={env[name]}"
    return None


def check_gpus(needed: int, env: Mapping[str, str] = os.environ) -> None:
    """Raise InputError when this process was given GPUs, its engines need ``needed`` of them, and torch is
    a CPU build, sees no GPU, or sees fewer than ``needed``. Imports torch only when GPUs were given."""
    if needed < 1 or env.get("SFTKIT_ALLOW_CPU", "0") not in ("", "0") or (given := gpus_given(env)) is None:
        return
    import torch

    fix = (
        "Run it in an environment with a CUDA build of torch: set SFTKIT_CONDA_ENV=NAME or SFTKIT_VENV=PATH "
        "(or activate it before sbatch), or set SFTKIT_ALLOW_CPU=1 to run on CPU on purpose."
    )
    build = torch.version.cuda or getattr(torch.version, "hip", None)
    where = f"{sys.executable} (torch {torch.__version__})"
    if build is None:
        raise InputError(
            f"this job was given GPUs ({given}) but {where} is a CPU build of torch, so the model "
            f"would run on CPU. {fix}"
        )
    if not torch.cuda.is_available():
        raise InputError(
            f"this job was given GPUs ({given}) but {where} cannot see any: check the CUDA driver "
            f"and modules (SFTKIT_MODULES) on this node. {fix}"
        )
    if torch.cuda.device_count() < needed:
        raise InputError(
            f"the engine needs {needed} GPUs (tensor x pipeline parallel) but {where} sees "
            f"{torch.cuda.device_count()} ({given}): ask for more GPUs per worker or lower --tp/--pp."
        )
