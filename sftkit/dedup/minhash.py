"""MinHash signatures over n-gram hashes, vectorised in numpy, and LSH banding.

Permutation k maps an n-gram hash h to ``a_k * h + b_k`` (mod 2^64, a_k odd; multiply-shift hashing,
a universal family), and a document's signature value k is the top 32 bits of the minimum over its
n-grams. One pass per permutation over a whole batch's n-grams, reduced per document with
``np.minimum.reduceat``, replaces the per-document loop of a MinHash library.

Banding splits the signature into ``bands`` groups of ``rows``; two documents become a candidate
pair when all rows of any band agree, with probability ``1 - (1 - J^rows)^bands`` at Jaccard J.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sftkit.dedup.text import POSITION, mix


def candidate_probability(j: float | np.ndarray, bands: int, rows: int) -> np.ndarray:
    """P(two documents of Jaccard ``j`` share at least one band)."""
    return 1.0 - (1.0 - np.asarray(j, dtype=np.float64) ** rows) ** bands


def midpoint(bands: int, rows: int) -> float:
    """The Jaccard at which the S-curve crosses 0.5: the solution of 1 - (1 - J^rows)^bands = 0.5."""
    return float((1.0 - 0.5 ** (1.0 / bands)) ** (1.0 / rows))


def choose_bands(threshold: float, num_perm: int, fn_weight: float = 0.8) -> tuple[int, int]:
    """bands x rows (<= num_perm) minimising the weighted area of false positives (the S-curve at
    J < threshold) and false negatives (1 - S at J >= threshold). Misses weigh 4:1, since every
    candidate is then checked against the threshold: a false positive costs a comparison, a miss a
    duplicate left in."""
    grid = np.linspace(0.0, 1.0, 2001)
    below = grid < threshold
    best: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        p = candidate_probability(grid, bands, rows)
        fp = np.trapezoid(np.where(below, p, 0.0), grid)
        fn = np.trapezoid(np.where(below, 0.0, 1.0 - p), grid)
        err = (1 - fn_weight) * fp + fn_weight * fn
        if best is None or err < best[0] - 1e-12:
            best = (err, bands, rows)
    assert best is not None
    return best[1], best[2]


@dataclass(frozen=True)
class MinHasher:
    num_perm: int
    bands: int
    rows: int
    seed: int = 1

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm or self.rows > len(POSITION):
            raise ValueError(f"bands x rows = {self.bands} x {self.rows} does not fit {self.num_perm} permutations")

    @cached_property
    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        a = rng.integers(0, 2**63, size=self.num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        b = rng.integers(0, 2**63, size=self.num_perm, dtype=np.uint64)
        return a, b

    def signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(documents, num_perm) uint32 signatures of the n-grams ``hashes[offsets[i]:offsets[i+1]]``
        (each non-empty; repeats do not change a minimum)."""
        a, b = self._params
        out = np.empty((len(offsets) - 1, self.num_perm), dtype=np.uint32)
        starts = offsets[:-1]
        with np.errstate(over="ignore"):
            for k in range(self.num_perm):
                v = hashes * a[k]
                v += b[k]
                out[:, k] = np.minimum.reduceat(v, starts) >> np.uint64(32)
        return out

    def band_hashes(self, signatures: np.ndarray) -> np.ndarray:
        """(documents, bands) uint64: one hash per band of ``rows`` signature values."""
        n = len(signatures)
        blocks = signatures[:, : self.bands * self.rows].reshape(n, self.bands, self.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            return mix((blocks * POSITION[: self.rows]).sum(axis=2, dtype=np.uint64))


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values, row by row."""
    return (a == b).mean(axis=-1)
