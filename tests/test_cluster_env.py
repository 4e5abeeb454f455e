"""The first day on a real GPU cluster, checked without Slurm: which Python environment slurm/lib.sh chooses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import REPO
from fake_envs import clean_env, fake_conda, fake_env, fake_repo


def activate(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Source lib.sh as a run script does, activate, and print the choice and the python's path."""
    script = (f'ROOT={root}; source {REPO}/slurm/lib.sh; sftkit_activate; echo "$SFTKIT_ENV_CHOSEN"; '
              'command -v "$PYTHON"')
    return subprocess.run(["bash", "-c", script], env=clean_env(**env), capture_output=True, text=True, timeout=60)


@pytest.fixture
def envs(tmp_path: Path) -> dict[str, Path]:
    return {"repo": fake_repo(tmp_path / "repo"), "venv": fake_env(tmp_path / "gpu-venv", "gpu venv"),
            "other": fake_env(tmp_path / "other-venv", "other venv"), "conda": fake_conda(tmp_path / "conda")}


@pytest.mark.parametrize(("case", "expected"), [
    ("nothing active", "repo/.venv"),
    ("venv active", "gpu-venv"),
    ("conda env active", "conda/envs/gpu"),
    ("conda base active", "repo/.venv"),
    ("venv on top of a conda env", "gpu-venv"),
    ("SFTKIT_VENV over an active venv", "other-venv"),
    ("SFTKIT_CONDA_ENV over an active venv", "conda/envs/gpu"),
])
def test_environment_precedence(envs: dict[str, Path], case: str, expected: str) -> None:
    venv, conda = envs["venv"], envs["conda"]
    active_venv = {"VIRTUAL_ENV": str(venv), "PATH": f"{venv}/bin:{os.environ['PATH']}"}
    active_conda = {"CONDA_PREFIX": f"{conda}/envs/gpu", "CONDA_DEFAULT_ENV": "gpu", "CONDA_EXE": f"{conda}/bin/conda",
                    "PATH": f"{conda}/envs/gpu/bin:{conda}/bin:{os.environ['PATH']}"}
    env = {"nothing active": {},
           "venv active": active_venv,
           "conda env active": active_conda,
           "conda base active": {"CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "base",
                                 "CONDA_EXE": f"{conda}/bin/conda", "PATH": f"{conda}/bin:{os.environ['PATH']}"},
           "venv on top of a conda env": {**active_conda, **active_venv},
           "SFTKIT_VENV over an active venv": {**active_venv, "SFTKIT_VENV": str(envs["other"])},
           "SFTKIT_CONDA_ENV over an active venv": {**active_venv, "SFTKIT_CONDA_ENV": "gpu",
                                                    "CONDA_EXE": f"{conda}/bin/conda"}}[case]
    proc = activate(envs["repo"], **env)
    assert proc.returncode == 0, proc.stderr
    chosen, python = proc.stdout.splitlines()
    assert python == str(envs["repo"].parent / expected / "bin" / "python"), (case, chosen)
    assert str(envs["repo"].parent / expected) in chosen


def test_environment_conflicts_and_stale_environments_are_refused(envs: dict[str, Path], tmp_path: Path) -> None:
    both = activate(envs["repo"], SFTKIT_VENV=str(envs["venv"]), SFTKIT_CONDA_ENV="gpu")
    assert both.returncode == 2 and "both SFTKIT_CONDA_ENV" in both.stderr
    gone = activate(envs["repo"], VIRTUAL_ENV=str(tmp_path / "deleted-venv"))
    assert gone.returncode == 2 and f"no {tmp_path}/deleted-venv/bin/python" in gone.stderr
