"""Which rows a job owns: ``--shard I/N``, percentage ranges, or the SLURM array task.

Boundaries are exact fractions of the real row count, and the same fraction always maps to the
same row, so adjacent shards (or percentage ranges that tile [0, 1]) share their boundary row
index and every row lands in exactly one shard.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sftkit.errors import InputError


@dataclass(frozen=True)
class Shard:
    """A slice ``[start, end)`` of [0, 1]; ``index``/``count`` are set when it came from ``I/N``."""

    start: Fraction
    end: Fraction
    index: int | None = None
    count: int | None = None

    @property
    def name(self) -> str:
        if self.index is not None:
            return f"part-{self.index:05d}-of-{self.count:05d}"
        return f"part-{_decimal(self.start)}-to-{_decimal(self.end)}"

    @property
    def is_whole(self) -> bool:
        return self.start == 0 and self.end == 1

    def rows(self, num_rows: int) -> range:
        return range(_boundary(self.start, num_rows), _boundary(self.end, num_rows))


WHOLE = Shard(Fraction(0), Fraction(1), 0, 1)


def _boundary(frac: Fraction, num_rows: int) -> int:
    return (frac.numerator * num_rows) // frac.denominator


def _decimal(frac: Fraction) -> str:
    text = f"{Decimal(frac.numerator) / Decimal(frac.denominator):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_fraction(text: str, flag: str) -> Fraction:
    """Parse a fraction of the dataset exactly: '0.29' is 29/100, never 0.28999999."""
    try:
        value = Fraction(Decimal(text.strip()))
    except (InvalidOperation, ValueError) as exc:
        raise InputError(f"{flag} {text!r}: not a number") from exc
    if not 0 <= value <= 1:
        raise InputError(f"{flag} {text!r}: must be a fraction of the dataset between 0 and 1 (0.25 means 25%)")
    return value


def parse_shard(text: str) -> Shard:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError as exc:
        raise InputError(f"--shard {text!r}: expected I/N, e.g. 3/8") from exc
    return shard_of(i, n, "--shard")


def shard_of(i: int, n: int, where: str) -> Shard:
    if n < 1 or not 0 <= i < n:
        raise InputError(f"{where}: shard {i} of {n} is out of range (need 0 <= I < N)")
    return Shard(Fraction(i, n), Fraction(i + 1, n), i, n)


def resolve_shard(
    shard: str | None,
    start_pct: str | None,
    end_pct: str | None,
    env: Mapping[str, str] = os.environ,
) -> Shard:
    """The shard from flags, else from the SLURM array environment, else the whole dataset."""
    if shard and (start_pct or end_pct):
        raise InputError("use either --shard or --start-from-percentage/--end-at-percentage, not both")
    if shard:
        return parse_shard(shard)
    if start_pct or end_pct:
        start = parse_fraction(start_pct or "0", "--start-from-percentage")
        end = parse_fraction(end_pct or "1", "--end-at-percentage")
        if start >= end:
            raise InputError(f"--start-from-percentage {start_pct} must be below --end-at-percentage {end_pct}")
        return Shard(start, end)
    if "SLURM_ARRAY_TASK_ID" in env or "SFTKIT_WORKER_INDEX" in env:
        return _slurm_shard(env)
    return WHOLE


def _slurm_shard(env: Mapping[str, str]) -> Shard:
    """Shard ``task * W + worker`` of ``tasks * W``, for W workers per array task (one per GPU subset).

    The task is SLURM_ARRAY_TASK_ID (0 outside an array); W and the worker come from
    SFTKIT_WORKERS_PER_TASK and SFTKIT_WORKER_INDEX, which slurm/lib.sh sets. The total is
    SFTKIT_NUM_SHARDS, or tasks * W when the array is 0..N-1. A resubmission of some shards
    (``--array=3,7``) must set SFTKIT_NUM_SHARDS, since that array no longer says the total.
    """
    task = int(env.get("SLURM_ARRAY_TASK_ID", "0"))
    workers = int(env.get("SFTKIT_WORKERS_PER_TASK", "1"))
    worker = int(env.get("SFTKIT_WORKER_INDEX", "0"))
    if not 0 <= worker < workers:
        raise InputError(f"SFTKIT_WORKER_INDEX {worker} is not below SFTKIT_WORKERS_PER_TASK {workers}")
    index = task * workers + worker
    if env.get("SFTKIT_NUM_SHARDS"):
        return shard_of(index, int(env["SFTKIT_NUM_SHARDS"]), "SFTKIT_NUM_SHARDS")
    if "SLURM_ARRAY_TASK_ID" not in env:
        return shard_of(index, workers, "SFTKIT_WORKERS_PER_TASK")
    count = int(env.get("SLURM_ARRAY_TASK_COUNT", "0"))
    lo, hi = int(env.get("SLURM_ARRAY_TASK_MIN", "0")), int(env.get("SLURM_ARRAY_TASK_MAX", str(count - 1)))
    if lo != 0 or hi != count - 1:
        raise InputError(
            f"SLURM array {lo}-{hi} ({count} tasks) is not 0..N-1; "
            "set SFTKIT_NUM_SHARDS to the stage's total number of shards"
        )
    return shard_of(index, count * workers, "SLURM_ARRAY_TASK_ID")
