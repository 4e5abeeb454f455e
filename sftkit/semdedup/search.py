"""Pairs of unit vectors with cosine >= a threshold, without comparing every pair: k-means partitions the
vectors (spherical, trained on a sample), each vector is stored in its nearest centroid's cluster and
searched for in its ``probe`` nearest clusters (an inverted-file search), then the pairs found are joined
into components (``sftkit.dedup.clusters``). Every step is seeded and in a fixed order, so the same
vectors give the same pairs: a sharded merge equals an unsharded one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

SAMPLE_PER_CENTROID = 256  # k-means trains on at most this many vectors a centroid (as faiss does)
_BLOCK = 16_384  # rows assigned at once: a (block, clusters) float32 score matrix
_CELLS = 1 << 24  # query x stored scores computed at once within a cluster (64 MiB float32)


def norms(x: np.ndarray) -> np.ndarray:
    """float32 norms of float16 unit rows (1 within 1e-3), so cosines are exact for the stored vectors."""
    out = np.empty(len(x), dtype=np.float32)
    for lo in range(0, len(x), _BLOCK):
        block = x[lo : lo + _BLOCK].astype(np.float32)
        out[lo : lo + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
    return out


def kmeans(x: np.ndarray, k: int, seed: int, iterations: int = 10) -> np.ndarray:
    """(k, dim) unit centroids of spherical k-means (Lloyd on cosine) over a seeded sample of ``x``; an empty
    cluster keeps its centroid. numpy: float32 matrix products, the same work as faiss (see bench/semdedup.py)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    take = min(n, k * SAMPLE_PER_CENTROID)
    sample = x[np.sort(rng.choice(n, take, replace=False))] if take < n else x[:]
    sample = sample.astype(np.float32)
    centroids = sample[np.sort(rng.choice(take, k, replace=False))].copy()
    for _ in range(iterations):
        assign = nearest(sample, centroids, 1)[:, 0]
        members = csr_matrix((np.ones(take, dtype=np.float32), (assign, np.arange(take))), shape=(k, take))
        sums = np.asarray(members @ sample)
        lengths = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(lengths > 0, sums / np.where(lengths == 0, 1, lengths), centroids).astype(np.float32)
    return centroids


def nearest(x: np.ndarray, centroids: np.ndarray, probe: int) -> np.ndarray:
    """(n, probe) indices of each row's nearest centroids, nearest first (ties: lower index)."""
    probe = min(probe, len(centroids))
    out = np.empty((len(x), probe), dtype=np.int64)
    for lo in range(0, len(x), _BLOCK):
        scores = x[lo : lo + _BLOCK].astype(np.float32) @ centroids.T
        if probe == 1:
            out[lo : lo + len(scores), 0] = scores.argmax(axis=1)
            continue
        best = np.argpartition(-scores, probe - 1, axis=1)[:, :probe]
        best.sort(axis=1)  # then by score, stable: ties keep the lower index
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
        out[lo : lo + len(scores)] = np.take_along_axis(best, order, axis=1)
    return out


@dataclass
class Found:
    """The pairs (i < j) with cosine >= the threshold, their cosines, and the partition's sizes."""

    pairs: np.ndarray
    cosines: np.ndarray
    clusters: int
    largest: int
    compared: int


def similar_pairs(
    x: np.ndarray, threshold: float, *, cluster_size: int, probe: int, seed: int, iterations: int = 10
) -> Found:
    """Every pair of rows of ``x`` (unit float16) whose cosine reaches ``threshold`` and that share a cluster
    under ``probe``: row i is compared with the rows stored in each of its ``probe`` nearest clusters. With
    one cluster (fewer rows than ``cluster_size``) that is every pair."""
    n = len(x)
    k = max(1, -(-n // cluster_size))
    if n == 0:
        return Found(np.zeros((0, 2), np.int64), np.zeros(0, np.float32), 0, 0, 0)
    scale = norms(x)
    top = nearest(x, kmeans(x, k, seed, iterations), probe) if k > 1 else np.zeros((n, 1), dtype=np.int64)
    stored = _members(top[:, 0], k)
    searched = _members(top, k)
    blocks, cosines, compared = [], [], 0
    for c in range(k):
        rows, queries = stored[c], searched[c]
        if not len(rows) or not len(queries):
            continue
        base = x[rows].astype(np.float32) / scale[rows, None]
        step = max(1, _CELLS // len(rows))
        for lo in range(0, len(queries), step):
            q = queries[lo : lo + step]
            sims = (x[q].astype(np.float32) / scale[q, None]) @ base.T
            compared += sims.size
            a, b = np.nonzero(sims >= threshold)
            i, j = q[a], rows[b]
            keep = i != j
            blocks.append(np.stack([np.minimum(i, j)[keep], np.maximum(i, j)[keep]], axis=1))
            cosines.append(sims[a, b][keep])
    pairs, cos = _unique(blocks, cosines, n)
    return Found(pairs, cos, k, int(max(len(r) for r in stored)), compared)


def _members(top: np.ndarray, k: int) -> list[np.ndarray]:
    """For each cluster, the rows (ascending) that have it among their ``top`` columns."""
    rows = np.repeat(np.arange(len(top)), top.shape[1]) if top.ndim == 2 else np.arange(len(top))
    labels = top.ravel()
    order = np.lexsort([rows, labels])
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    ordered = rows[order]
    return [ordered[bounds[c] : bounds[c + 1]] for c in range(k)]


def _unique(blocks: list[np.ndarray], cosines: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair once, sorted, with the cosine of its first finding (a pair found from both rows' clusters)."""
    if not blocks:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    pairs, cos = np.concatenate(blocks).astype(np.int64), np.concatenate(cosines)
    keys, first = np.unique(pairs[:, 0] * n + pairs[:, 1], return_index=True)
    return np.stack([keys // n, keys % n], axis=1), cos[first]
