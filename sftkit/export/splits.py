"""A validation split that depends on nothing but each row's split key and the seed.

Every row has a split key: by default its question, normalized (NFKC, casefolded, whitespace
collapsed), so all solutions of one problem share a key and land in the same split, and the key never
depends on the row's position (``--split-key id`` or ``FIELD``: that field's value instead). A key
draws ``u = sha256(seed NUL key)`` read as a number in [0, 1).

- ``--val-fraction F``: a row is in validation when ``u < F``. Its split depends on its key and the
  seed alone: not on the order of the rows, sharding, rows added later, or other strata. With
  ``--val-stratify`` the same rule holds inside each stratum, so every stratum keeps F of its keys in
  expectation (binomially), and strata never interact.
- ``--val-size N``: the N keys of smallest ``u`` (all rows of those keys). Order and sharding do not
  matter; adding rows moves rows only from validation to train. With ``--val-stratify``, N is shared
  out over the strata by Sainte-Laguë (a divisor method, so population monotone): adding rows to some
  strata never raises the quota of a stratum that got none, so the rows of such a stratum only move
  from validation to train; a stratum that grew may take up to its quota's increase from train. A key
  whose rows carry several values of the field belongs to the smallest of them.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

TRAIN, VALIDATION = "train", "validation"
QUESTION = "question"  # the split key that is the normalized question, not a field


@dataclass(frozen=True)
class SplitOptions:
    fraction: float | None = None
    size: int | None = None
    stratify: str | None = None
    seed: int = 0
    key: str = QUESTION  # QUESTION, or the field whose value is the key

    @property
    def wanted(self) -> bool:
        return bool(self.fraction) or bool(self.size)


def key_text(value: Any) -> str:
    """A field value as the text it hashes: an integral float (an int column widened by a merge) as the int."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def uniform(seed: int, key: str) -> float:
    """The key's draw in [0, 1): the first 8 bytes of sha256(seed NUL key)."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """``total`` shared out in proportion to ``sizes`` by Sainte-Laguë (highest n / (2s + 1), ties by name);
    a stratum never gets more than its size while ``total`` <= the sum of sizes."""
    quota = dict.fromkeys(sizes, 0)
    heap = [(-n, name) for name, n in sizes.items()]
    heapq.heapify(heap)
    for _ in range(total):
        _, name = heapq.heappop(heap)
        quota[name] += 1
        heapq.heappush(heap, (-sizes[name] / (2 * quota[name] + 1), name))
    return quota


def validation_mask(keys: list[str], strata: list[str] | None, opts: SplitOptions) -> np.ndarray:
    """True for the validation rows; ``keys`` (and ``strata``) one per row."""
    if not opts.wanted:
        return np.zeros(len(keys), dtype=bool)
    draw = {k: uniform(opts.seed, k) for k in dict.fromkeys(keys)}
    if opts.fraction:
        return np.array([draw[k] < opts.fraction for k in keys], dtype=bool)
    stratum: dict[str, str] = {}
    for k, s in zip(keys, strata if strata is not None else [""] * len(keys), strict=True):
        stratum[k] = min(stratum.get(k, s), s)
    groups: dict[str, list[str]] = defaultdict(list)
    for k, s in stratum.items():
        groups[s].append(k)
    quota = _quotas({s: len(g) for s, g in groups.items()}, min(opts.size or 0, len(stratum)))
    chosen = {k for s, g in groups.items() for k in sorted(g, key=draw.__getitem__)[: quota[s]]}
    return np.array([k in chosen for k in keys], dtype=bool)
