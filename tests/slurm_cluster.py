"""A real single-node Slurm for the tests, started with the project's own slurm/local scripts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAKE_GPUS = 4


def _ok(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


def cluster_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    out = subprocess.run(["sinfo", "-h", "-o", "%t %G"], capture_output=True, text=True)
    return out.returncode == 0 and f"gpu:{FAKE_GPUS}" in out.stdout


def why_no_slurm() -> str | None:
    """None when this machine can run a local Slurm, else the reason."""
    if os.geteuid() != 0:
        return "starting a local Slurm needs root"
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        return "Slurm is not installed and apt-get is not available to install it"
    return None


def start() -> None:
    env = {**os.environ, "SLURM_LOCAL_FAKE_GPUS": str(FAKE_GPUS)}
    subprocess.run(["bash", str(REPO / "slurm/local/start_local_slurm.sh")], env=env, check=True)


def stop() -> None:
    subprocess.run(["bash", str(REPO / "slurm/local/stop_local_slurm.sh")], check=False)


def job_state(job: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    states = re.findall(r"JobState=(\w+)", out)
    return ",".join(sorted(set(states))) or "UNKNOWN"


def wait_done(job: str, timeout: float = 240, release: bool = True) -> str:
    """Wait until every task of ``job`` ended; requeued tasks are released at once (Slurm holds
    a requeued job about two minutes before it may start again)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        states = set(re.findall(r"JobState=(\w+)", out))
        if states and states <= {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}:
            return ",".join(sorted(states))
        if release:
            _release_requeued()
        time.sleep(0.3)
    raise TimeoutError(f"job {job} still not done after {timeout}s: {job_state(job)}")


_held_since: dict[str, float] = {}
RELEASE_AFTER = 3.0  # slurmd refuses ("already killed") a job id relaunched within about a second


def _release_requeued() -> None:
    """Start requeued tasks a few seconds after their requeue instead of after Slurm's two-minute
    hold, once the previous run has left the node (a relaunch before that fails at once)."""
    pending = subprocess.run(
        ["squeue", "-h", "-r", "-t", "PD", "-o", "%A %i %r"], capture_output=True, text=True
    ).stdout
    for line in pending.splitlines():
        job_id, task, reason = line.split(maxsplit=2)
        if reason.strip() != "BeginTime":
            continue
        first = _held_since.setdefault(f"{job_id}/{task}", time.time())
        if time.time() - first >= RELEASE_AFTER and not _ok("scontrol", "listpids", job_id):
            _ok("scontrol", "update", f"jobid={task}", "StartTime=now")
            _held_since.pop(f"{job_id}/{task}")


def wait_running(job: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "RUNNING" in job_state(job):
            return
        time.sleep(0.1)
    raise TimeoutError(f"job {job} did not start: {job_state(job)}")
