"""What Slurm knows of a pipeline's jobs: ``squeue`` while queued or running, ``scontrol`` for a while after."""

from __future__ import annotations

import re
import shutil
import subprocess


def queued(jobs: list[str]) -> list[tuple[str, str, str]]:
    """(job or task id, state, reason) of those still queued or running; none without Slurm here."""
    if not jobs or not shutil.which("squeue"):
        return []
    out = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(jobs), "-o", "%i|%T|%r"], capture_output=True, text=True)
    return [tuple(line.split("|", 2)) for line in out.stdout.splitlines() if line.count("|") == 2]


def ended(job: str) -> tuple[str, str]:
    """(state, reason) Slurm still remembers of a job, else ("", ""): clusters without an accounting
    database forget a job MinJobAge seconds (default 300) after it ends."""
    if not shutil.which("scontrol"):
        return "", ""
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    state, reason = re.search(r"JobState=(\S+)", out), re.search(r"Reason=(\S+)", out)
    return (state.group(1) if state else ""), (reason.group(1) if reason else "")
