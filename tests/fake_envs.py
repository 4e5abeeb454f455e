"""Stand-in Python environments (venvs, a conda install, a repo with its own .venv) for slurm/lib.sh."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# what a caller's shell may have active or set; each test sets its own
ENV_VARS = (
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CONDA_EXE",
    "MAMBA_ROOT_PREFIX",
    "SFTKIT_VENV",
    "SFTKIT_CONDA_ENV",
    "SFTKIT_PYTHON",
    "SFTKIT_MODULES",
)


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without any chosen or active Python environment, plus ``env``."""
    return {**{k: v for k, v in os.environ.items() if k not in ENV_VARS}, **env}


def fake_env(folder: Path, name: str) -> Path:
    """A venv-like folder whose python says which it is on stderr, then runs the real one."""
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.write_text(f'#!/bin/bash\necho "python of {name}" >&2\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    (folder / "bin" / "activate").write_text(f'export VIRTUAL_ENV={folder}\nexport PATH="{folder}/bin:$PATH"\n')
    return folder


def fake_repo(folder: Path) -> Path:
    """The repository with a `make test` .venv of its own (the code itself is linked)."""
    folder.mkdir()
    for name in ("slurm", "sftkit", "selectors", "hpc", "upload"):
        (folder / name).symlink_to(REPO / name)
    fake_env(folder / ".venv", "repo .venv")
    return folder


def fake_conda(base: Path) -> Path:
    """A conda install with base at ``base`` and an env ``gpu``: `conda info --base` and `conda activate`."""
    fake_env(base, "conda base")
    fake_env(base / "envs" / "gpu", "conda gpu")
    (base / "bin" / "conda").write_text(f'#!/bin/bash\n[ "$1 $2" = "info --base" ] && echo {base}\n')
    (base / "bin" / "conda").chmod(0o755)
    (base / "etc" / "profile.d").mkdir(parents=True)
    (base / "etc" / "profile.d" / "conda.sh").write_text(
        f'conda() {{ [ "$1" = activate ] && export CONDA_PREFIX={base}/envs/$2 CONDA_DEFAULT_ENV=$2 '
        f'PATH="{base}/envs/$2/bin:$PATH"; }}\n'
    )
    return base
