"""Uniform sampling that does not depend on where a row sits in the stream.

Every row gets a key from a bijective 64-bit hash of its global index and the seed. The rows of
a bin with the q smallest keys are a uniform random q-subset of that bin, whatever the stream
order; the same seed gives the same subset. A bottom-k pool keeps the smallest-key rows seen so
far, so the chosen rows are usually in memory by the end of the single pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sftkit.data.batch import Batch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
MAX_KEY = np.iinfo(np.uint64).max


def row_keys(indices: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64(index + seed * golden): unique per row for a given seed, uniform on [0, 2**64)."""
    with np.errstate(over="ignore"):
        z = np.asarray(indices).astype(np.uint64) + np.uint64(seed % 2**64) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


class BottomKPool:
    """Holds every row seen so far whose key is at most ``threshold``, keeping about ``cap`` rows."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.threshold = MAX_KEY
        self._parts: list[tuple[np.ndarray, Batch]] = []
        self._size = 0

    def offer(self, batch: Batch, keys: np.ndarray) -> None:
        mask = keys <= self.threshold
        if not mask.any():
            return
        positions = np.flatnonzero(mask)
        self._parts.append((keys[positions], batch.select(positions) if len(positions) < len(batch) else batch))
        self._size += len(positions)
        if self._size > 2 * self.cap:
            self._compact()

    def _compact(self) -> None:
        keys = np.concatenate([k for k, _ in self._parts])
        self.threshold = np.partition(keys, self.cap - 1)[self.cap - 1]
        kept: list[tuple[np.ndarray, Batch]] = []
        for k, batch in self._parts:
            positions = np.flatnonzero(k <= self.threshold)
            if len(positions):
                kept.append((k[positions], batch.select(positions)))
        self._parts = kept
        self._size = sum(len(k) for k, _ in kept)

    def records(self, wanted: np.ndarray, id_field: str) -> dict[int, dict[str, Any]]:
        """Records of the ``wanted`` global indices that the pool holds, keyed by index."""
        found: dict[int, dict[str, Any]] = {}
        for _, batch in self._parts:
            found.update(take_wanted(batch, wanted, id_field))
        return found


def take_wanted(batch: Batch, wanted: np.ndarray, id_field: str) -> dict[int, dict[str, Any]]:
    """Records of ``batch`` whose global index is in ``wanted`` (sorted ascending), keyed by index."""
    pos = np.minimum(np.searchsorted(wanted, batch.indices), max(len(wanted) - 1, 0))
    hit = np.flatnonzero(wanted[pos] == batch.indices) if len(wanted) else np.zeros(0, dtype=np.int64)
    if not len(hit):
        return {}
    sub = batch.select(hit)
    return dict(zip(sub.indices.tolist(), sub.records(id_field)))
