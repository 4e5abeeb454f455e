"""One model at a time: a stage that needs several models runs one checkpointed pass per model over
its shard, then joins the passes' results by global row number.

Two models side by side each ask for most of the GPU (vLLM's ``gpu_memory_utilization`` defaults to
0.9), so the second fails at start-up. Each pass is a stage of its own under ``<output>.passes/``: a
killed job resumes inside the pass it was in, and a finished pass is never redone, its model not even
loaded. Records are keyed by row number, so joins need no unique ids.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from tqdm import tqdm

from sftkit import report
from sftkit.data.batch import Batch
from sftkit.data.checkpoint import parts_dir
from sftkit.data.shards import Shard
from sftkit.data.sources import Source
from sftkit.engines.hub import one_line
from sftkit.errors import InputError
from sftkit.runner.stage import StageResult, run_stage


def pass_output(output: str | Path, name: str) -> Path:
    """Where pass ``name`` of the stage writing ``output`` keeps its parts: ``<output>.passes/``."""
    output = Path(output)
    return output.with_name(output.name + ".passes") / f"{name}.jsonl"


def model_slug(model: str) -> str:
    """A file-name-safe, readable and unique name for a model id or path."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("_") or "model"


class Loaded:
    """The one model in memory. Asking for another frees the current one first, so a shard never
    holds two models' weights at once. A model that cannot load stops the run, named: never skipped.
    Each load and release is logged, so a job's log shows which model held the GPU when."""

    def __init__(self) -> None:
        self.key: tuple[str, ...] | None = None
        self.value: Any = None

    def get(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        """``key`` names what ``load`` builds, its model last; the current value when it is the same."""
        if key != self.key:
            self.release()
            tqdm.write(f"loading model {key[-1]}", file=sys.stderr)  # on a line of its own, under any bar
            try:
                self.value = load()
            except InputError:  # already says what and why (a model this machine cannot get)
                raise
            except Exception as exc:
                raise InputError(f"model {key[-1]!r} failed to load: {one_line(exc)}") from exc
            self.key = key
        return self.value

    def release(self) -> None:
        if self.value is None:
            return
        import torch

        close = getattr(self.value, "close", None)  # the vLLM engine stops its engine core
        if close is not None:
            close()
        model = self.key[-1] if self.key else "?"
        self.value = self.key = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        tqdm.write(f"released model {model}", file=sys.stderr)


class PassRecords:
    """A finished pass's records for one shard, read forward: a stage visits its rows in order, so only
    the rows of the batch at hand are in memory, however large the shard."""

    def __init__(self, output: str | Path, name: str, shard: Shard) -> None:
        self.path = parts_dir(pass_output(output, name)) / f"{shard.name}.jsonl"
        self._fh: IO[bytes] | None = None
        self._ahead: dict[str, Any] | None = None  # the first record past the last batch
        self._read_to = 0

    def between(self, start: int, stop: int) -> dict[int, dict[str, Any]]:
        """Records of rows in [start, stop), by row (rows the pass skipped are absent)."""
        if self._fh is None or start < self._read_to:  # first call, or rows already passed: from the top
            if self._fh is not None:
                self._fh.close()
            self._fh, self._ahead = open(self.path, "rb"), None  # noqa: SIM115 - read across calls
        self._read_to = stop
        found = {}
        while True:
            rec = self._ahead
            if rec is None:
                line = self._fh.readline()
                if not line:
                    return found
                rec = orjson.loads(line)
            if rec["row"] >= stop:
                self._ahead = rec
                return found
            self._ahead = None
            if rec["row"] >= start:
                found[rec["row"]] = rec


@dataclass
class Pass:
    """One model's pass: its name (a file name under ``<output>.passes/``), the settings that decide its
    results (its resume fingerprint) and what it does with a batch."""

    name: str
    settings: dict[str, Any]
    process: Callable[[Batch], StageResult]


def run_passes(
    stage: str, passes: list[Pass], loaded: Loaded, *, source: Source, shard: Shard, output: str | Path, **run: Any
) -> dict[str, dict[str, Any]]:
    """Run each pass over ``shard`` in order (``run`` as for ``run_stage``), then free the last model;
    returns each pass's completion marker. Passes load their model through ``loaded`` on first use."""
    markers = {}
    for one in passes:
        markers[one.name] = run_stage(
            stage=f"{stage}:{one.name}",
            source=source,
            shard=shard,
            output=pass_output(output, one.name),
            settings=one.settings,
            process=one.process,
            merge_whole=False,
            **run,
        ).marker
    loaded.release()
    return markers


def print_pass_counts(title: str, markers: dict[str, dict[str, Any]]) -> None:
    """One line of counts per pass, for the end-of-shard summary."""
    report.print_table(
        title,
        ["pass", "counts"],
        [(n, ", ".join(f"{k} {v:,}" for k, v in sorted(m["counts"].items()))) for n, m in markers.items()],
    )
