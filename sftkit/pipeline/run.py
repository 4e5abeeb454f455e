"""Start a recipe: each stage through slurm/submit.sh, chained so each waits for the one before.

On Slurm every stage is submitted at once: a stage's array (or job) gets ``--after <the previous
stage's merge or job>``, i.e. ``afterok`` with ``--kill-on-invalid-dep=yes``, so a failed stage
cancels the stages after it instead of leaving them pending. ``--local`` runs the stages one after
the other with ``submit.sh --local`` and stops at the first that fails. ``--dry-run`` runs submit.sh
with an ``sbatch`` that only prints its command line (and a placeholder job id), so what is printed is
exactly what would be submitted, and nothing is. Stages that are done with the recipe's settings
(sftkit/pipeline/record.py) are skipped, and so is nothing after the first stage that runs. A stage
that runs keeps the complete shards of its last submission only if its settings and input are the
same (its sharded submission then has ``--missing-only``); otherwise its old parts are discarded first
and every shard runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sftkit import report
from sftkit.data.side_files import SIDE_DIRS
from sftkit.errors import InputError
from sftkit.pipeline import record
from sftkit.pipeline.jobs import queued
from sftkit.pipeline.plan import Step, relative_link
from sftkit.pipeline.recipe import SERVER_KEYS, Recipe

REPO = Path(__file__).resolve().parents[2]
SUBMIT = REPO / "slurm" / "submit.sh"
# sbatch for --dry-run: prints its arguments and answers a readable placeholder id such as hard.merge
DRY_SBATCH = """#!/bin/bash
kind=job
for arg in "$@"; do
  case "$arg" in
    --array=*) kind=array ;;
    */merge.sh) kind=merge; break ;;
    */run_*.sh) break ;;
    *.sh) kind=$(basename "$arg" .sh); break ;;
  esac
done
{ printf '  sbatch'; printf ' %q' "$@"; printf '\\n'; } >&2
echo "$SFTKIT_DRY_LABEL.$kind"
"""
DRY_SCONTROL = "#!/bin/sh\nexit 0\n"  # knows no job: submit.sh then names logs without the job name
SBATCH_OPTION = {
    "gres": "--gres={}",
    "time": "--time={}",
    "mem": "--mem={}",
    "cpus": "--cpus-per-task={}",
    "partition": "--partition={}",
}


def log_dir(recipe: Recipe) -> Path:
    return recipe.workdir / "logs"


def submit_command(step: Step, after: str | None, local: bool = False, fresh: bool = False) -> list[str]:
    """The slurm/submit.sh command line of one stage; ``fresh``: its old parts are discarded (or would
    be, in a dry run), so every shard is submitted."""
    c = step.spec.cluster
    words = [str(SUBMIT), *(["--local"] if local else []), step.spec.stage]
    words += ["--missing-only"] if step.spec.sharded and not fresh else []  # a rerun redoes only what is missing
    for key, flag in (
        ("shards", "--shards"),
        ("merge_tasks", "--merge-tasks"),
        ("max_parallel", "--max-parallel"),
        ("workers_per_task", "--workers-per-task"),
    ):
        if key in c:
            words += [flag, str(c[key])]
    if not local:
        words += ["--after", after] if after else []
        words += [SBATCH_OPTION[k].format(c[k]) for k in SBATCH_OPTION if k in c]
        words += c.get("sbatch", [])
        if "server" in c:
            server = c["server"]
            words += ["--server", str(server["model"])]
            for key in SERVER_KEYS[1:]:
                words += [f"--server-{key}", str(server[key])] if key in server else []
    return [*words, "--", *step.argv]


def _parse_submit(out: str) -> dict[str, Any]:
    """Job ids, logs and the rerun command from submit.sh's output (SFTKIT_PRINT_JOBIDS=1)."""
    found: dict[str, Any] = {}
    if m := re.search(r"^sftkit-jobs: array=(\S+) last=(\S+)$", out, re.M):
        found["array"], found["last"] = (None if m.group(1) == "-" else m.group(1)), m.group(2)
    for key, pattern in (
        ("task_logs", r"^task logs: (.+)$"),
        ("merge_log", r"^merge log: (.+)$"),
        ("log", r"^log: (.+)$"),
        ("rerun", r"rerun only the missing shards with:\n\s+(.+)$"),
    ):
        if m := re.search(pattern, out, re.M):
            found[key] = m.group(1).strip()
    return found


def link_dataset(step: Step, dry_run: bool) -> None:
    """The upload's dataset folder: one relative symlink per published file (made before the file exists)."""
    for link, target in step.links.items():
        text = relative_link(link, target)
        if dry_run:
            print(f"  would link {link} -> {text}")
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            if link.is_symlink() and os.readlink(link) == text:
                continue
            raise InputError(
                f"{link} exists and is not a link to {target}; move it away or name another upload 'input' folder"
            )
        link.symlink_to(text)


def discard_parts(step: Step, dry_run: bool) -> None:
    """Remove the parts, passes and checkpoints an earlier run of the stage left (renamed away first, to a
    hidden name no input folder reads, so no stage ever sees half of them): they were made from other
    settings or input."""
    for path in (Path(f"{step.output}{suffix}") for suffix in SIDE_DIRS):
        if not path.exists():
            continue
        print(f"  {'would discard' if dry_run else 'discarding'} {path}: made from other settings or input")
        if not dry_run:
            gone = path.with_name(f".{path.name}.discarded-{os.getpid()}")
            path.rename(gone)
            shutil.rmtree(gone)


def reusable(recipe: Recipe, step: Step, now: dict[str, Any] | None, made: dict[str, float]) -> bool:
    """Whether the complete shards of the stage's last submission may be kept: same settings, and the
    input it read is the one it reads now (``now`` None: not made yet, so not known to be). A stage
    submitted before its input was made read the output of the stage before it, done and not
    resubmitted since (``made``: output -> its record's time, for the done stages skipped)."""
    rec = record.read(recipe, step)
    if rec is None or now is None or record.change(rec, step):
        return False
    if rec.get("input") is None:
        return made.get(step.input or "", float("inf")) <= record.path_of(recipe, step).stat().st_mtime
    return rec["input"] == now


def refuse_while_queued(recipe: Recipe, steps: list[Step]) -> None:
    """A second submission while the first still runs would race it for the same shards."""
    for step in steps:
        rec = record.read(recipe, step) or {}
        live = queued([j for j in (rec.get("array"), rec.get("last")) if j])
        if live:
            raise InputError(
                f"{recipe.where(step.spec)}: jobs {', '.join(sorted({j for j, _, _ in live}))} of an "
                f"earlier submission are still queued or running; wait for them (slurm/submit.sh status "
                f"{recipe.path}) or scancel them first"
            )


def start(recipe: Recipe, steps: list[Step], recipe_path: str, dry_run: bool = False, local: bool = False) -> int:
    rows: list[tuple[str, ...]] = []
    after: str | None = None
    submitted: list[str] = []
    running = False  # once a stage runs, every later one does: its input may change
    made: dict[str, float] = {}
    refuse_while_queued(recipe, steps)
    with tempfile.TemporaryDirectory(prefix="sftkit-pipeline-") as tmp:
        env = {**os.environ, "SFTKIT_PRINT_JOBIDS": "1", "SFTKIT_LOG_DIR": str(log_dir(recipe))}
        if dry_run:
            for tool, script in (("sbatch", DRY_SBATCH), ("scontrol", DRY_SCONTROL)):
                (Path(tmp) / tool).write_text(script)
                (Path(tmp) / tool).chmod(0o755)
            env |= {"PATH": f"{tmp}:{env['PATH']}", "SFTKIT_LOG_DIR": tmp}
        for step in steps:
            name = step.spec.name
            if not running and record.done(recipe, step):
                rows_in, rows_out = record.rows(step)
                print(f"== {name}: done with these settings ({rows_in} rows in, {rows_out} out); skipped")
                rows.append((name, step.spec.stage, "skipped: done", "", ""))
                made[step.output or ""] = record.path_of(recipe, step).stat().st_mtime
                continue
            # on Slurm, a stage after one submitted now reads an output not made yet: its input is not known
            now = record.input_identity(step) if step.output and (local or not running) else None
            fresh = step.output is not None and not reusable(recipe, step, now, made)
            running = True
            command = submit_command(step, after, local, fresh)
            print(f"== {name}: {shlex.join(command)}", flush=True)
            if fresh:
                discard_parts(step, dry_run)
            link_dataset(step, dry_run)
            if not dry_run:
                record.write(recipe, step, local=local, recipe_file=recipe_path, input=now)
            if local:
                rc = subprocess.run(command, env=env).returncode
                rows.append((name, step.spec.stage, "done" if rc == 0 else f"failed (exit {rc})", "", ""))
                if rc:
                    report.print_table(f"pipeline {recipe.name} (local)", ["stage", "kind", "result", "", ""], rows)
                    print(
                        f"stage {name} failed; later stages were not run. Fix it, then run the same command "
                        "again: done stages are skipped",
                        file=sys.stderr,
                    )
                    return rc
                continue
            env["SFTKIT_DRY_LABEL"] = name
            proc = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            text = proc.stdout.replace(tmp, str(log_dir(recipe))) if dry_run else proc.stdout
            print(
                "\n".join(
                    f"  {line}" if not line.startswith("  sbatch") else line
                    for line in text.splitlines()
                    if not line.startswith("sftkit-jobs:")
                )
            )
            if proc.returncode:
                if not dry_run:
                    if submitted:
                        subprocess.run(["scancel", *submitted], check=False)
                        print(f"cancelled the jobs this run submitted: {' '.join(submitted)}", file=sys.stderr)
                    for sent in steps[: steps.index(step) + 1]:  # their records would name cancelled jobs
                        if not record.done(recipe, sent):
                            record.path_of(recipe, sent).unlink(missing_ok=True)
                raise InputError(
                    f"{recipe.where(step.spec)}: submitting failed (exit {proc.returncode}); "
                    "nothing of this run is left queued"
                )
            found = _parse_submit(text)
            after = found["last"]
            submitted += [j for j in (found.get("array"), found["last"]) if j]
            if not dry_run:
                record.update(recipe, step, **found)
            logs = found.get("task_logs") or found.get("log", "")
            rows.append(
                (
                    name,
                    step.spec.stage,
                    " ".join(j for j in (found.get("array"), found["last"]) if j),
                    logs,
                    found.get("merge_log", ""),
                )
            )
    if local:
        report.print_table(f"pipeline {recipe.name} (local)", ["stage", "kind", "result", "", ""], rows)
        return 0
    title = f"pipeline {recipe.name}: {'dry run, nothing submitted' if dry_run else 'submitted'}"
    report.print_table(title, ["stage", "kind", "jobs", "logs", "merge log"], rows)
    if not dry_run:
        print(f"watch progress: watch -n 30 {shlex.quote(str(SUBMIT))} status {shlex.quote(recipe_path)}")
    return 0
