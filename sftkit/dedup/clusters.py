"""Candidate pairs from equal hashes, duplicate clusters over them, and the one row each cluster keeps.

Clusters are the connected components of the pair graph (scipy's union-find over the pairs), so a
cluster never depends on the order pairs were found in, and a sharded run clusters exactly as an
unsharded one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def equal_pairs(keys: np.ndarray) -> np.ndarray:
    """(k, 2) pairs (first, other): every row whose key another row has, with the first row (lowest
    index) holding that key; one sort, no per-bucket Python loop."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    first = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    other = first != order
    return np.stack([first[other], order[other]], axis=1).astype(np.int64)


def bucket_pairs(keys: np.ndarray, members: np.ndarray, cap: int) -> tuple[np.ndarray, int]:
    """(k, 2) pairs (earlier, later) of ``members`` (node indices) whose ``keys`` are equal: every pair
    within a bucket, so which pairs are compared never depends on input order. A bucket of more than
    ``cap`` rows pairs each row with its first ``cap`` rows only; returns the pairs and how many rows
    were in such buckets. One vectorised step per distance within a bucket, over shrinking arrays."""
    order = np.argsort(keys[members], kind="stable")
    ordered, nodes = keys[members][order], members[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(starts) - 1
    size = np.bincount(group)[group]
    first = np.flatnonzero(starts)[group]
    at = np.arange(len(ordered))
    at = at[(size > 1) & (at - first < cap)]  # the earlier row of a pair is one of its bucket's first cap
    blocks = []
    for d in range(1, int(size.max(initial=1))):
        at = at[at + d < first[at] + size[at]]  # its row d places further is still in the bucket
        if not len(at):
            break
        blocks.append(np.stack([nodes[at], nodes[at + d]], axis=1))
    over = int((size > cap).sum())
    pairs = np.concatenate(blocks) if blocks else np.zeros((0, 2), dtype=np.int64)
    return pairs.astype(np.int64), over


def unique_pairs(groups: Iterable[np.ndarray], nodes: int) -> np.ndarray:
    """The distinct pairs of several (k, 2) arrays, each as (lower, higher) index, sorted."""
    blocks = [np.sort(g, axis=1) for g in groups if len(g)]
    if not blocks:
        return np.zeros((0, 2), dtype=np.int64)
    both = np.concatenate(blocks)
    keys = np.unique(both[:, 0] * nodes + both[:, 1])
    return np.stack([keys // nodes, keys % nodes], axis=1)


def components(pairs: np.ndarray, nodes: int) -> np.ndarray:
    """Cluster label of every node; a node in no pair is a cluster of its own."""
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(nodes, nodes))
    return connected_components(graph, directed=False)[1]


def keepers(labels: np.ndarray, priority: list[np.ndarray]) -> np.ndarray:
    """For each node, the node its cluster keeps: the smallest under ``priority`` (keys compared in
    order, then the node index, i.e. input order)."""
    order = np.lexsort([np.arange(len(labels)), *reversed(priority), labels])
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    keeper_of_label = np.empty(labels.max(initial=-1) + 1, dtype=np.int64)
    keeper_of_label[labels[order][first]] = order[first]
    return keeper_of_label[labels]
