"""Candidate pairs from equal hashes, duplicate clusters over them, and the one row each cluster keeps.

Clusters are the connected components of the pair graph, so a cluster never depends on the order pairs
were found in, nor on how the pairs were split between tasks: a sharded, partitioned run clusters exactly
as an unsharded one. Components are computed over the rows the pairs touch only (``compact``), so memory
follows the pairs, not the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def bucket_pairs(
    keys: np.ndarray, members: np.ndarray, cap: int, inputs: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(k, 2) pairs (earlier, later) of ``members`` (ascending node indices) whose ``keys`` (one per
    member) are equal: every pair within a bucket, so which pairs are compared never depends on input
    order. A bucket of more than ``cap`` rows pairs each row with its first ``cap`` rows only. Nodes from
    ``inputs`` on (a reference set) are never paired with each other: such pairs are not built. Returns
    the pairs, which of them pair a row with its bucket's first row, and how many rows were in buckets
    over the cap. One vectorised step per distance within a bucket, over shrinking arrays."""
    order = np.argsort(keys, kind="stable")
    ordered, nodes = keys[order], members[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(starts) - 1
    size = np.bincount(group)[group]
    first = np.flatnonzero(starts)[group]
    at = np.arange(len(ordered))
    at = at[(size > 1) & (at - first < cap)]  # the earlier row of a pair is one of its bucket's first cap
    if inputs is not None:
        at = at[nodes[at] < inputs]  # the later row of a pair comes after the earlier: both reference rows
    blocks, from_first = [], []
    for d in range(1, int(size.max(initial=1))):
        at = at[at + d < first[at] + size[at]]  # its row d places further is still in the bucket
        if not len(at):
            break
        blocks.append(np.stack([nodes[at], nodes[at + d]], axis=1))
        from_first.append(at == first[at])
    if not blocks:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=bool), 0
    return np.concatenate(blocks).astype(np.int64), np.concatenate(from_first), int((size > cap).sum())


def similar_in_rounds(
    candidates: np.ndarray,
    star: np.ndarray,
    base: np.ndarray,
    nodes: int,
    is_similar: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate pairs are similar: first those in ``star`` (each row with its bucket's first),
    then only those that round's clusters (with the pairs ``base``) left apart. The clusters are those
    of checking every candidate, without comparing a bucket of near copies pair by pair. Returns the
    similar and the checked candidates, as masks."""
    keys = candidates[:, 0] * nodes + candidates[:, 1]
    checked = np.isin(keys, star[:, 0] * nodes + star[:, 1])
    similar = np.zeros(len(candidates), dtype=bool)
    similar[checked] = is_similar(candidates[checked])
    joined = components(np.concatenate([base, candidates[similar]]), nodes)
    later = ~checked & (joined[candidates[:, 0]] != joined[candidates[:, 1]])
    similar[later] = is_similar(candidates[later])
    return similar, checked | later


def unique_pairs(groups: Iterable[np.ndarray], nodes: int) -> np.ndarray:
    """The distinct pairs of several (k, 2) arrays, each as (lower, higher) index, sorted."""
    blocks = [np.sort(g, axis=1) for g in groups if len(g)]
    if not blocks:
        return np.zeros((0, 2), dtype=np.int64)
    both = np.concatenate(blocks)
    keys = np.unique(both[:, 0] * nodes + both[:, 1])
    return np.stack([keys // nodes, keys % nodes], axis=1)


def compact(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct nodes of ``pairs`` (sorted) and the pairs renumbered as indices into them, so that
    clustering holds the rows the pairs touch, not every row."""
    touched, local = np.unique(pairs, return_inverse=True)
    return touched, local.reshape(pairs.shape)


def forest(pairs: np.ndarray) -> np.ndarray:
    """(k, 2) edges (node, its component's lowest node) with the same connected components as ``pairs``:
    at most one edge per node touched, however many pairs joined them."""
    if not len(pairs):
        return np.zeros((0, 2), dtype=np.int64)
    touched, local = compact(pairs)
    labels = components(local, len(touched))
    root = np.full(labels.max() + 1, len(touched))
    np.minimum.at(root, labels, np.arange(len(touched)))
    edges = np.stack([touched, touched[root[labels]]], axis=1)
    return edges[edges[:, 0] != edges[:, 1]].astype(np.int64)


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
