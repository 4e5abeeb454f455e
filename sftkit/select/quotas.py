"""Per-bin quotas that always sum to the requested total.

Half-Gaussian weighting: with B bins ordered shortest to longest and sharpness s,

    w_b = exp(-0.5 * (s * (B - 1 - b) / (B - 1))**2)

so the longest bin has weight 1 and the shortest exp(-s**2 / 2): s=1 gentle (0.61), s=2
standard (0.14), s=4 sharp (0.0003). Quotas are the largest-remainder apportionment of the total
to these weights; a bin with fewer rows than its quota hands the surplus to its nearest
neighbours with room (the longer neighbour first).
"""

from __future__ import annotations

import numpy as np


def half_gaussian_weights(num_bins: int, sharpness: float) -> np.ndarray:
    if num_bins < 1:
        raise ValueError("num_bins must be at least 1")
    if num_bins == 1:
        return np.ones(1)
    distance = (num_bins - 1 - np.arange(num_bins)) / (num_bins - 1)
    return np.exp(-0.5 * (sharpness * distance) ** 2)


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total`` (Hamilton's method)."""
    weights = np.asarray(weights, dtype=np.float64)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    quotas = np.floor(exact).astype(np.int64)
    short = total - int(quotas.sum())
    # largest remainders first; on equal remainders the longer (higher) bin wins
    order = np.lexsort((-np.arange(len(weights)), -(exact - quotas)))
    quotas[order[:short]] += 1
    return quotas


def allocate(total: int, weights: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Quotas for ``total`` rows over bins with ``available`` rows each; sums to min(total, rows)."""
    available = np.asarray(available, dtype=np.int64)
    total = min(int(total), int(available.sum()))
    ideal = apportion(total, weights)
    quotas = np.minimum(ideal, available)
    extra = ideal - quotas
    n = len(quotas)
    for b in np.flatnonzero(extra):
        left = int(extra[b])
        for d in range(1, n):
            for nb in (b + d, b - d):
                if left and 0 <= nb < n:
                    take = min(left, int(available[nb] - quotas[nb]))
                    quotas[nb] += take
                    left -= take
            if not left:
                break
    return quotas
