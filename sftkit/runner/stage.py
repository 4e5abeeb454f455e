"""Run one shard of a per-record stage: checkpointed, resumable, merged when it is the whole dataset."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import orjson
from tqdm import tqdm

from sftkit import stopping
from sftkit.data.batch import Batch
from sftkit.data.checkpoint import ShardRun, at_checkpoints
from sftkit.data.journal import JOURNAL_NAME, Journal, journaling
from sftkit.data.merge import merge
from sftkit.data.prefetch import prefetch
from sftkit.data.shards import Shard
from sftkit.data.sources import Source
from sftkit.engines.base import RUNTIME_SETTINGS
from sftkit.errors import InputError, Interrupted, Reject, enforce_policy


@dataclass
class StageResult:
    """What a stage made of one batch: output records, bad input rows (subject to --on-bad-record),
    outputs it quarantined (always to the rejects file: a failed generation is not bad input),
    counters, and arrays with one row per record that the part keeps beside it (``<part>.<name>.npy``,
    e.g. the dedup stage's MinHash signatures, read by its merge)."""

    records: list[dict[str, Any]]
    rejects: list[Reject] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    quarantine: list[Reject] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def check_fields(source: Source, shard: Shard, fields: dict[str, str], rows: int = 100) -> None:
    """A field the data lacks is a mapping mistake: found on the shard's first rows, before a model loads
    (minutes) and before every row is quarantined for it. ``fields`` maps each field to the flag naming it."""
    span = shard.rows(source.num_rows())
    for batch in source.batches(span.start, min(span.stop, span.start + rows), rows):
        batch.require(fields)
        return


@dataclass
class StageRun:
    marker: dict[str, Any]
    merged: dict[str, Any] | None


def _save_and_stop(run: ShardRun, journal: Journal, cause: BaseException | None) -> NoReturn:
    """Checkpoint the batches processed so far and stop with the requeue code. ``cause``: what ended
    the batch in progress (the engine's stop, or its failure once a stop came: at the time limit
    Slurm signals the engine's own processes too); its finished requests are in the journal."""
    signal = stopping.requested()
    row = run.checkpoint()
    if cause is None:  # between batches: every request of the journal is in a chunk now
        journal.clear()
    inflight = f" and {len(journal):,} finished requests beyond it" if len(journal) else ""
    why = "" if cause is None or isinstance(cause, Interrupted) else f" (the engine then failed: {cause!r:.200})"
    raise Interrupted(
        f"{run.shard.name} saved up to row {row:,}{inflight} after {signal}{why}; run again to resume"
    ) from cause


def run_stage(
    *,
    stage: str,
    source: Source,
    shard: Shard,
    output: str | Path,
    settings: dict[str, Any],
    process: Callable[[Batch], StageResult],
    every: int,
    batch_size: int,
    on_bad_record: str,
    sort: list[dict[str, str]] | None = None,
    overwrite: bool = False,
    subset: dict[str, str] | None = None,
    merge_whole: bool = True,
    id_field: str | None = None,
    pass_rates: dict[str, Any] | None = None,
    on_resume: Callable[[Iterator[dict[str, Any]]], None] | None = None,
    filter_plot: dict[str, Any] | None = None,
) -> StageRun:
    """Process ``shard`` of ``source`` into ``<output>.parts``; merge into ``output`` if not sharded
    (unless ``merge_whole`` is False: a stage that merges its own way).

    With ``subset={"field": F, "all_to": PATH}`` the parts hold every record, the merge writes all of
    them to PATH and only those whose field F is true to ``output`` (the LLM filter's kept rows).
    ``id_field`` names the records' id, whose duplicates the merge counts. ``pass_rates``
    (``{"field": F, "band": [LO, HI], "without": {COUNTS_KEY: LABEL}}``) has the merge plot the rows per
    pass-rate bin that ``process`` counted (``report.pass_rate_bin``). ``on_resume`` gets the records a
    resumed shard saved before, for a ``process`` whose state depends on them (the novelty index). ``filter_plot``
    (``{"title": T, "png": SUFFIX, "order": [NAME, ...]}``) has it draw the rows each filter dropped, from the counts
    ``dropped:NAME`` (the first filter that fired) and ``would_drop:NAME`` (every one that fired).
    """
    num_rows = source.num_rows()
    settings = {**settings, "data": source.identity(), **({"id_field": id_field} if id_field else {})}
    run = ShardRun(
        output,
        shard,
        num_rows,
        stage,
        settings,
        every,
        sort,
        overwrite,
        subset,
        RUNTIME_SETTINGS,
        pass_rates,
        filter_plot,
    )
    if run.complete:
        print(f"{shard.name}: already complete, nothing to redo", file=sys.stderr)
        marker = run.marker_data()
    else:
        start = run.resume_from()
        if start > run.rows.start:
            print(f"{shard.name}: resuming at row {start:,} of {run.rows.start:,}-{run.rows.stop:,}", file=sys.stderr)
            if on_resume is not None:
                on_resume(run.saved_records())
        stopping.install()
        bar = tqdm(
            total=len(run.rows),
            initial=start - run.rows.start,
            desc=f"{stage} {shard.name}",
            unit="row",
            unit_scale=True,
            file=sys.stderr,
            mininterval=1.0,
        )
        with stopping.deferred(), bar, journaling(run.ckpt / JOURNAL_NAME) as journal:
            if len(journal):
                print(
                    f"{shard.name}: {len(journal):,} finished requests of the chunk at row {start:,} are saved; "
                    "they are not sent again",
                    file=sys.stderr,
                )
            batches = source.batches(start, run.rows.stop, max(1, min(batch_size, every)))
            for batch in prefetch(at_checkpoints(batches, start, run.every)):
                rejects = enforce_policy(batch.rejects, on_bad_record)
                try:
                    result = process(batch)
                except BaseException as exc:
                    if stopping.requested() is None:
                        raise
                    _save_and_stop(run, journal, exc)
                rejects = rejects + enforce_policy(result.rejects, on_bad_record) + result.quarantine
                run.add(result.records, rejects, batch.stop, result.counts, result.arrays)
                if run.resume_from() == batch.stop:  # checkpointed: its requests are in the chunk now
                    journal.clear()
                bar.update(batch.stop - batch.start)
                if stopping.requested():
                    _save_and_stop(run, journal, None)
        marker = run.finish()
    merged = merge(output) if shard.is_whole and merge_whole else None
    check_losses(marker, run.rejects_path)
    return StageRun(marker, merged)


def check_losses(marker: dict[str, Any], rejects_file: Path) -> None:
    """Never only in stats.json: a shard that lost more rows than it kept says so on screen, with the main
    reasons, and one that kept nothing and rejected every row stops with exit 2 (a wrong field or format,
    not data to train on)."""
    rows, kept, lost = marker["rows"][1] - marker["rows"][0], marker["records"], marker["rejects"]
    if not lost or lost <= kept:
        return
    reasons = Counter()
    if rejects_file.exists():
        with open(rejects_file, "rb") as fh:
            reasons.update(orjson.loads(line).get("reason", "?") for line in fh if line.strip())
    top = "; ".join(f"{n:,} {why[:100]}" for why, n in reasons.most_common(3))
    what = f"{marker['shard']}: {lost:,} rejected, {kept:,} kept of {rows:,} rows ({top}); see {rejects_file}"
    if not kept and lost >= rows:
        raise InputError(f"{what}. Nothing was kept")
    print(f"warning: {what}", file=sys.stderr)
