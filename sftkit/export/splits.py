"""A validation split that depends on nothing but each row's id and the seed.

Every row gets ``u = sha256(seed, id)`` read as a number in [0, 1). ``--val-fraction F`` puts a row in
validation when ``u < F``: its split never changes with the order of the rows, with sharding, or with
rows added later. ``--val-size N`` takes the N rows of smallest ``u``: order and sharding still do
not matter, and adding k rows moves at most k rows, always from validation to train. With
``--val-stratify FIELD`` each stratum gets its share, ``round(F * n)`` rows (or N's share by largest
remainder), again by smallest ``u``, so within a stratum the same guarantees hold as for --val-size.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

TRAIN, VALIDATION = "train", "validation"


@dataclass(frozen=True)
class SplitOptions:
    fraction: float | None = None
    size: int | None = None
    stratify: str | None = None
    seed: int = 0

    @property
    def wanted(self) -> bool:
        return bool(self.fraction) or bool(self.size)


def uniform(seed: int, row_id: str) -> float:
    """The row's draw in [0, 1): the first 8 bytes of sha256(seed NUL id)."""
    digest = hashlib.sha256(f"{seed}\0{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _smallest(draws: np.ndarray, count: int) -> np.ndarray:
    """A mask of the ``count`` smallest draws (ties cannot matter: 64-bit hashes)."""
    mask = np.zeros(len(draws), dtype=bool)
    if count > 0:
        mask[np.argsort(draws, kind="stable")[:count]] = True
    return mask


def _quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """``total`` shared out in proportion to ``sizes`` by largest remainder (ties by stratum name)."""
    n = sum(sizes.values())
    exact = {k: total * v / n for k, v in sizes.items()}
    quota = {k: int(e) for k, e in exact.items()}
    left = total - sum(quota.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - quota[k]), k))[:left]:
        quota[k] += 1
    return quota


def validation_mask(draws: np.ndarray, strata: list[str] | None, opts: SplitOptions) -> np.ndarray:
    """True for the validation rows."""
    if not opts.wanted:
        return np.zeros(len(draws), dtype=bool)
    if strata is None:
        return draws < opts.fraction if opts.fraction else _smallest(draws, min(opts.size or 0, len(draws)))
    groups: dict[str, list[int]] = defaultdict(list)
    for k, s in enumerate(strata):
        groups[s].append(k)
    sizes = {s: len(rows) for s, rows in groups.items()}
    quota = ({s: round(opts.fraction * n) for s, n in sizes.items()} if opts.fraction
             else _quotas(sizes, min(opts.size or 0, len(draws))))
    mask = np.zeros(len(draws), dtype=bool)
    for s, rows in groups.items():
        index = np.asarray(rows)
        mask[index[_smallest(draws[index], quota[s])]] = True
    return mask
