"""Where each stage of a recipe stands: not started, waiting, running (shards done of N), failed (the
shard, its log and the command that reruns only the missing shards), cancelled, or done (rows in and out).

It reads the pipeline's records, the stages' own completion marks (``*.done`` per shard, the merged
``.stats.json``) and what Slurm still knows (``squeue``, then ``scontrol show job``; clusters without
an accounting database forget a job some minutes after it ends, so the marks decide then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftkit import report
from sftkit.data.checkpoint import parts_dir
from sftkit.orchestrate import missing_tasks
from sftkit.pipeline import record
from sftkit.pipeline.jobs import ended, queued
from sftkit.pipeline.plan import Step
from sftkit.pipeline.recipe import Recipe
from sftkit.pipeline.run import SUBMIT


@dataclass
class State:
    state: str  # not started, waiting, pending, running, merging, failed, cancelled, changed, incomplete, done
    progress: str = ""
    log: str = ""
    notes: tuple[str, ...] = ()


def last_error(log: Path) -> str:
    """The last line of a log that says what went wrong (else its last line)."""
    if not log.exists():
        return "(no log yet)"
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()[-200:] if line.strip()]
    errors = [line for line in lines if re.search(r"\berror\b|Error:|Traceback", line)]
    return (errors or lines or ["(empty log)"])[-1][:300]


def _uploaded(log: Path) -> bool:
    """The upload's log ends with its push (or dry-run) summary."""
    return log.is_file() and bool(re.search(r"^(pushed to |dry run: \d+ files)", log.read_text(errors="replace"), re.M))


def _shards_done(step: Step) -> int:
    folder = parts_dir(step.output)
    return len(list(folder.glob("*.done"))) if folder.is_dir() else 0


def _failed(step: Step, rec: dict[str, Any]) -> State:
    notes = []
    shards = step.spec.cluster.get("shards")
    if shards:
        missing = missing_tasks(step.output, shards, step.spec.cluster.get("workers_per_task", 1))
        for task in missing:
            log = rec.get("task_logs", "").replace("<task>", str(task))
            notes.append(f"task {task} did not complete: log {log}\n    {last_error(Path(log))}")
        if not missing:
            notes.append(
                f"every shard is complete but the merge failed: log {rec.get('merge_log')}\n"
                f"    {last_error(Path(rec.get('merge_log', '')))}"
            )
        if rec.get("rerun"):
            notes.append(f"rerun only the missing shards, then merge: {rec['rerun']}")
        log = rec.get("merge_log", "")
        progress = f"{shards - len(missing)} of {shards} shards done"
    else:
        log, progress = rec.get("log", ""), ""
        notes.append(f"log {log}\n    {last_error(Path(log))}")
    return State("failed", progress, log, tuple(notes))


def stage_state(recipe: Recipe, step: Step, before: State | None) -> State:
    rec = record.read(recipe, step)
    shards = step.spec.cluster.get("shards")
    progress = f"{_shards_done(step)} of {shards} shards done" if shards else ""
    if rec is None:
        return State("not started", progress)
    if record.done(recipe, step):
        rows_in, rows_out = record.rows(step)
        return State("done", f"{rows_in:,} rows in, {rows_out:,} out", rec.get("merge_log") or rec.get("log", ""))
    why = record.change(rec, step)
    if why:
        return State("changed", progress, "", (f"{why}; `pipeline` submits it again, from scratch",))
    if rec.get("local"):
        return State("incomplete", progress, "", ("a --local run: run the same command again to resume",))
    jobs = [j for j in (rec.get("array"), rec.get("last")) if j]
    queued_jobs = queued(jobs)
    log = rec.get("merge_log") or rec.get("log", "")
    if queued_jobs:
        states = {s for _, s, _ in queued_jobs}
        if "RUNNING" in states or "COMPLETING" in states:
            merging = all(job == rec.get("last") for job, s, _ in queued_jobs if s == "RUNNING") and shards
            return State("merging" if merging else "running", progress, rec.get("task_logs") or log)
        reasons = {r for _, _, r in queued_jobs}
        if "DependencyNeverSatisfied" in reasons:
            return State("cancelled", progress, log, ("a job it waits for failed",))
        waiting = "Dependency" in reasons
        return State("waiting" if waiting else "pending", progress, log, () if waiting else (", ".join(reasons),))
    if before and before.state in ("failed", "cancelled"):
        return State("cancelled", progress, log, ("the stage before it did not finish",))
    state, reason = ended(rec["last"]) if rec.get("last") else ("", "")
    if step.output is None and (state == "COMPLETED" or (not state and _uploaded(Path(log)))):
        return State("done", "", log)  # the upload writes no stats: Slurm's word, else its log's last table
    if state == "CANCELLED" and reason == "DependencyNeverSatisfied":
        return State("cancelled", progress, log, ("the stage before it failed",))
    return _failed(step, rec)


def show(recipe: Recipe, steps: list[Step], recipe_path: str) -> int:
    states: list[State] = []
    for step in steps:
        states.append(stage_state(recipe, step, states[-1] if states else None))
    report.print_table(
        f"pipeline {recipe.name} ({recipe_path})",
        ["stage", "kind", "state", "progress", "log"],
        [(s.spec.name, s.spec.stage, st.state, st.progress, st.log) for s, st in zip(steps, states)],
    )
    for step, st in zip(steps, states):
        for note in st.notes:
            print(f"{step.spec.name} ({st.state}): {note}")
    if any(st.state == "failed" for st in states):
        print(f"after fixing it, `{SUBMIT} pipeline {recipe_path}` submits again from the first stage not done")
        return 1
    return 0
