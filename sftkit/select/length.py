"""Half-Gaussian length selection in one streaming pass.

Pass over the data once: record every row's length and key, and keep the smallest-key rows in a
bottom-k pool. Then cut bins at quantiles of the lengths, allocate quotas (``quotas.py``), and
take the ``q_b`` smallest-key rows of each bin, a uniform sample of the bin. Those rows are almost
always in the pool already; any that are not are fetched in a second pass.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from sftkit.data.batch import Batch
from sftkit.data.prefetch import prefetch
from sftkit.data.sources import Source
from sftkit.errors import InputError, Reject, enforce_policy
from sftkit.select.quotas import allocate, half_gaussian_weights
from sftkit.select.sampling import BottomKPool, row_keys, take_wanted

Measure = Callable[[Batch], np.ndarray]


@dataclass
class LengthPlan:
    """Everything decided from the lengths alone: bins, quotas, and which rows to take."""

    edges: np.ndarray
    available: np.ndarray
    quotas: np.ndarray
    selected: np.ndarray  # global row indices, ascending
    lengths: np.ndarray  # length of every valid row
    selected_lengths: np.ndarray


@dataclass
class LengthSelection:
    plan: LengthPlan
    records: list[dict[str, Any]]
    rejects: list[Reject] = field(default_factory=list)
    rows_seen: int = 0
    second_pass: int = 0
    seconds: float = 0.0


def quantile_edges(lengths: np.ndarray, num_bins: int) -> np.ndarray:
    """Interior bin edges at the 1/B .. (B-1)/B quantiles; the outer bins are open-ended."""
    if len(lengths) == 0:
        return np.zeros(0)
    return np.quantile(lengths, np.arange(1, num_bins) / num_bins)


def plan_selection(
    indices: np.ndarray,
    lengths: np.ndarray,
    total: int,
    num_bins: int,
    sharpness: float,
    seed: int,
    stats_sample: int = 0,
) -> LengthPlan:
    keys = row_keys(indices, seed)
    basis = lengths
    if 0 < stats_sample < len(lengths):
        sample_keys = row_keys(indices, seed + 1)
        basis = lengths[np.argpartition(sample_keys, stats_sample - 1)[:stats_sample]]
    edges = quantile_edges(basis, num_bins)
    bins = np.searchsorted(edges, lengths, side="right")
    available = np.bincount(bins, minlength=num_bins)
    quotas = allocate(total, half_gaussian_weights(num_bins, sharpness), available)
    chosen = []
    for b, q in enumerate(quotas):
        members = np.flatnonzero(bins == b)
        if q >= len(members):
            chosen.append(members)
        elif q > 0:
            chosen.append(members[np.argpartition(keys[members], q - 1)[:q]])
    picked = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return LengthPlan(edges, available, quotas, indices[picked], lengths, lengths[picked])


def pool_capacity(total: int, num_bins: int, sharpness: float) -> int:
    """Pool size that holds every chosen row with near certainty when bins are equal-count.

    The fullest bin needs a share ``s`` of the total; a uniform pool of C rows puts about C/B
    rows in each bin, so C = B * (1.5 * s * T + 6 * sqrt(s * T) + 32) leaves a wide margin.
    """
    weights = half_gaussian_weights(num_bins, sharpness)
    need = float(weights.max() / weights.sum()) * total
    return int(num_bins * (1.5 * need + 6 * math.sqrt(need) + 32))


def select_by_length(
    source: Source,
    measure: Measure,
    total: int,
    num_bins: int,
    sharpness: float,
    seed: int,
    id_field: str,
    on_bad_record: str,
    field_name: str,
    stats_sample: int = 0,
    batch_size: int = 8192,
    pool_cap: int | None = None,
    shuffle: bool = False,
) -> LengthSelection:
    started = time.time()
    if total < 1 or num_bins < 1:
        raise InputError("--total_samples and --num_bins must be at least 1")
    pool = BottomKPool(pool_cap or pool_capacity(total, num_bins, sharpness))
    all_idx: list[np.ndarray] = []
    all_len: list[np.ndarray] = []
    rejects: list[Reject] = []
    rows_seen = 0
    with tqdm(desc="measuring lengths", unit="row", unit_scale=True, file=sys.stderr, mininterval=1.0) as bar:
        for batch in prefetch(source.iter_all(batch_size)):
            rejects += enforce_policy(batch.rejects, on_bad_record)
            lengths = measure(batch)
            bad = np.flatnonzero(lengths < 0)
            if len(bad):
                rejects += enforce_policy(_bad_lengths(batch, bad, field_name, id_field), on_bad_record)
                good = np.flatnonzero(lengths >= 0)
                batch, lengths = batch.select(good), lengths[good]
            all_idx.append(batch.indices)
            all_len.append(lengths)
            pool.offer(batch, row_keys(batch.indices, seed))
            rows_seen = batch.stop
            bar.update(batch.stop - batch.start)
    indices = np.concatenate(all_idx) if all_idx else np.zeros(0, dtype=np.int64)
    lengths = np.concatenate(all_len) if all_len else np.zeros(0, dtype=np.int64)
    plan = plan_selection(indices, lengths, total, num_bins, sharpness, seed, stats_sample)
    found = pool.records(plan.selected, id_field)
    missing = np.setdiff1d(plan.selected, np.fromiter(found, dtype=np.int64, count=len(found)))
    if len(missing):
        found.update(_fetch(source, missing, id_field, batch_size))
    order = plan.selected
    if shuffle:
        order = np.random.default_rng(seed).permutation(order)
    records = [found[i] for i in order.tolist()]
    return LengthSelection(plan, records, rejects, rows_seen, len(missing), time.time() - started)


def _bad_lengths(batch: Batch, bad: np.ndarray, field_name: str, id_field: str) -> list[Reject]:
    sub = batch.select(bad)
    rejects = []
    for pos, value, record in zip(range(len(sub)), sub.values(field_name), sub.records(id_field)):
        what = "missing" if value is None else "empty" if value == "" else f"not text ({type(value).__name__})"
        rejects.append(Reject(int(sub.indices[pos]), sub.location(pos), f"field {field_name!r} is {what}", record))
    return rejects


def _fetch(source: Source, wanted: np.ndarray, id_field: str, batch_size: int) -> dict[int, dict[str, Any]]:
    """Second pass for chosen rows the pool did not keep (rare: very unequal bins)."""
    found: dict[int, dict[str, Any]] = {}
    for batch in source.iter_all(batch_size):
        found.update(take_wanted(batch, wanted, id_field))
    return found
