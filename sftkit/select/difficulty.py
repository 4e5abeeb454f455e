"""Choosing items by difficulty: an accuracy band, a difficulty_z quantile range, the top k, or a
target distribution over difficulty bins with the length selector's quota machinery.

Filters narrow the candidates first (--min-acc/--max-acc, --quantile-range); then at most one
picker chooses among them: --top-k hardest, or --total-samples spread over --num-bins quantile bins
of difficulty_z with weights by --target (uniform, hard: half-Gaussian favouring the hardest bin,
easy: its mirror). Within a bin every item has the same chance (hash keys, --seed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sftkit.select.quotas import allocate, half_gaussian_weights
from sftkit.select.sampling import row_keys

TARGETS = ("uniform", "hard", "easy")


@dataclass
class Choice:
    chosen: np.ndarray  # positions into the scored items, ascending
    candidates: int  # items left after the filters
    bins: list[dict[str, float]]  # per-bin table for a target distribution; empty otherwise


def band(
    acc: np.ndarray, z: np.ndarray, min_acc: float, max_acc: float, quantile_range: tuple[float, float] | None
) -> np.ndarray:
    """Positions inside the accuracy band and, if given, between the two quantiles of difficulty_z (taken
    over the items with both values). An unknown (NaN) accuracy or difficulty_z is never inside: 0.0 would
    make an item no model answered look hopelessly hard."""
    known = np.isfinite(acc) & np.isfinite(z)
    keep = known & (acc >= min_acc) & (acc <= max_acc)
    if quantile_range is not None and known.any():
        lo, hi = np.quantile(z[known], quantile_range)
        keep &= (z >= lo) & (z <= hi)
    return np.flatnonzero(keep)


def top_k(z: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The k hardest candidates; ties go to the earlier item, so the choice is reproducible."""
    order = candidates[np.lexsort((candidates, -z[candidates]))]
    return np.sort(order[:k])


def by_target(
    z: np.ndarray, candidates: np.ndarray, total: int, num_bins: int, target: str, sharpness: float, seed: int
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """``total`` candidates spread over quantile bins of their difficulty_z, weighted by ``target``."""
    values = z[candidates]
    edges = np.unique(np.quantile(values, np.linspace(0, 1, num_bins + 1)[1:-1])) if len(values) else np.array([])
    which = np.searchsorted(edges, values, side="right")
    bins = len(edges) + 1
    weights = {
        "uniform": np.ones(bins),
        "hard": half_gaussian_weights(bins, sharpness),
        "easy": half_gaussian_weights(bins, sharpness)[::-1],
    }[target]
    available = np.bincount(which, minlength=bins)
    quotas = allocate(total, weights, available)
    keys = row_keys(candidates, seed)
    chosen, table = [], []
    bounds = [-np.inf, *edges.tolist(), np.inf]
    for b in range(bins):
        members = np.flatnonzero(which == b)
        picked = members[np.argsort(keys[members], kind="stable")[: quotas[b]]]
        chosen.append(candidates[picked])
        table.append(
            {
                "bin": b,
                "from": bounds[b],
                "to": bounds[b + 1],
                "weight": float(weights[b]),
                "available": int(available[b]),
                "quota": int(quotas[b]),
                "selected": len(picked),
            }
        )
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64), table


def choose(
    acc: np.ndarray,
    z: np.ndarray,
    *,
    min_acc: float = 0.0,
    max_acc: float = 1.0,
    quantile_range: tuple[float, float] | None = None,
    top: int | None = None,
    total: int | None = None,
    num_bins: int = 5,
    target: str = "uniform",
    sharpness: float = 2.0,
    seed: int = 42,
) -> Choice:
    candidates = band(acc, z, min_acc, max_acc, quantile_range)
    if top is not None:
        return Choice(top_k(z, candidates, top), len(candidates), [])
    if total is not None:
        chosen, table = by_target(z, candidates, total, num_bins, target, sharpness, seed)
        return Choice(chosen, len(candidates), table)
    return Choice(candidates, len(candidates), [])
