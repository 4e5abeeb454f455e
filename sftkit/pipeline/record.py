"""What the pipeline remembers of each stage it started: <workdir>/.pipeline/<stage name>.json.

A record is written once, when its stage is submitted (or started with --local), and holds the
stage's settings (a hash of its options), its input's identity, its job ids, logs and the command
that reruns its missing shards.
A stage is done when its output and ``<output>.stats.json`` exist, the stats were written after the
record (by this submission, not an older one), the record's settings are the recipe's, and its input
is the one it read: only then does a rerun skip it. The input's identity (``local_identity``: rows and
sha256 of a local file or folder, an upstream stage's output included; a Hub id stands for itself) is
recorded at submission when the input is final then, else (a Slurm stage after one submitted with it)
the first time the stage is seen done, which is after the stage before it succeeded. Stats are
written last, atomically, by the stage's merge (every shard complete, see sftkit/data/merge.py) or by
the one-job stages themselves, so they are the completion mark the stages already have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from sftkit.data.atomic import write_json_atomic
from sftkit.data.sources import local_identity
from sftkit.pipeline.plan import Step
from sftkit.pipeline.recipe import Recipe
from sftkit.upload.provenance import ROWS_IN, ROWS_OUT


def path_of(recipe: Recipe, step: Step) -> Path:
    return recipe.workdir / ".pipeline" / f"{step.spec.name}.json"


def read(recipe: Recipe, step: Step) -> dict[str, Any] | None:
    path = path_of(recipe, step)
    return orjson.loads(path.read_bytes()) if path.exists() else None


def write(recipe: Recipe, step: Step, **fields: Any) -> None:
    """A new record, marking the time of this submission (its mtime)."""
    path = path_of(recipe, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"stage": step.spec.stage, "settings": step.settings, "argv": step.argv, **fields})


def update(recipe: Recipe, step: Step, **fields: Any) -> None:
    """Add what the submission answered (job ids, logs), keeping the record's time: a fast job may
    already have written its stats."""
    path = path_of(recipe, step)
    since = path.stat()
    write_json_atomic(path, {**read(recipe, step), **fields})
    os.utime(path, ns=(since.st_atime_ns, since.st_mtime_ns))


def stats_path(step: Step) -> Path | None:
    return Path(f"{step.output}.stats.json") if step.output else None


def input_identity(step: Step) -> dict[str, Any]:
    """What the stage reads now (see the module docstring); {} without an input."""
    if step.input is None:
        return {}
    return local_identity(step.input) or {"id": step.input}


def change(rec: dict[str, Any], step: Step) -> str | None:
    """Why a record no longer describes the stage the recipe asks for, or None."""
    if rec["settings"] != step.settings:
        return "the recipe's arguments differ from its last submission"
    if rec.get("input") is not None and rec["input"] != input_identity(step):
        return f"its input {step.input} changed since its last submission"
    return None


def done(recipe: Recipe, step: Step) -> bool:
    """Complete, by this stage's settings and input, after its last submission (see the module docstring)."""
    stats, path = stats_path(step), path_of(recipe, step)
    if stats is None or not (stats.exists() and Path(step.output).exists() and path.exists()):
        return False
    rec = read(recipe, step)
    if stats.stat().st_mtime < path.stat().st_mtime or change(rec, step):
        return False
    if rec.get("input") is None:  # submitted before its input was made: it read the input there is now
        update(recipe, step, input=input_identity(step))
    return True


def rows(step: Step) -> tuple[Any, Any]:
    """(rows in, rows out) from the stage's stats, whichever names the stage uses."""
    stats = orjson.loads(stats_path(step).read_bytes())
    first = lambda *keys: next((stats[k] for k in keys if isinstance(stats.get(k), int)), 0)  # noqa: E731
    return first(*ROWS_IN), first(*ROWS_OUT)
