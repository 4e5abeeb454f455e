"""The semdedup merge on planted cosines: pairs at the threshold's edges, components through chains, the
k-means partition against every pair, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from sftkit.dedup.clusters import components, keepers
from sftkit.semdedup.embed import normalized
from sftkit.semdedup.search import kmeans, nearest, similar_pairs

pytestmark = pytest.mark.unit


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def at_cosine(u: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with unit ``u`` is exactly ``cos``."""
    w = rng.normal(size=u.shape)
    w -= (w @ u) * u
    w /= np.linalg.norm(w)
    return cos * u + np.sqrt(1 - cos**2) * w


def brute(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    """Every pair at or above the threshold: the cosines of the stored (float16) vectors."""
    y = x.astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    sims = y @ y.T
    i, j = np.nonzero(np.triu(sims >= threshold, 1))
    return set(zip(i.tolist(), j.tolist()))


def test_threshold_edges_and_cosines() -> None:
    rng = np.random.default_rng(0)
    base = unit(rng, 40, 64)
    cosines = [0.999, 0.95, 0.905, 0.895, 0.85]  # threshold 0.9: the first three pairs merge
    x = np.concatenate([base, [at_cosine(base[k], c, rng) for k, c in enumerate(cosines)]])
    found = similar_pairs(normalized(x), 0.9, cluster_size=1000, probe=1, seed=0)
    assert [tuple(p) for p in found.pairs.tolist()] == [(0, 40), (1, 41), (2, 42)]
    assert np.allclose(found.cosines, cosines[:3], atol=2e-3)


def test_components_join_chains_below_the_threshold() -> None:
    """A ~ B and B ~ C at 0.95 join A and C, whose own cosine is lower; a row keeps its own component."""
    rng = np.random.default_rng(1)
    a = unit(rng, 1, 32)[0]
    b = at_cosine(a, 0.95, rng)
    c = at_cosine(b, 0.95, rng)
    c = c - 0.5 * (c @ a - 0.8) * a  # pull A.C below 0.93
    c /= np.linalg.norm(c)
    x = normalized(np.stack([a, b, c, unit(rng, 1, 32)[0]]))
    assert float(a @ c) < 0.93
    found = similar_pairs(x, 0.93, cluster_size=1000, probe=1, seed=0)
    labels = components(found.pairs, len(x))
    assert labels[0] == labels[1] == labels[2] != labels[3]
    keep = keepers(labels, [np.array([3.0, 1.0, 2.0, 0.0])])  # a --keep-by key: smaller kept
    assert keep.tolist() == [1, 1, 1, 3]


@pytest.mark.parametrize("probe", [1, 2, 3])
def test_partitioned_search_finds_the_planted_pairs_and_nothing_below(probe: int) -> None:
    """2,000 rows in 20 topics, 100 planted pairs at cosine 0.92-0.99 and 100 at 0.80-0.85: with 20 k-means
    clusters every planted pair over the threshold is found, none under it, and no pair is invented."""
    rng = np.random.default_rng(2)
    topics = unit(rng, 20, 48)
    x = topics[rng.integers(0, 20, 2000)] + rng.normal(size=(2000, 48)) * 0.12
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for k in range(200):
        x[1000 + k] = at_cosine(x[k], rng.uniform(0.92, 0.99) if k < 100 else rng.uniform(0.80, 0.85), rng)
    x16 = normalized(x)
    found = similar_pairs(x16, 0.9, cluster_size=100, probe=probe, seed=0)
    pairs = {tuple(p) for p in found.pairs.tolist()}
    assert found.clusters == 20 and pairs <= brute(x16, 0.9)
    assert {(k, 1000 + k) for k in range(100)} <= pairs
    assert not pairs & {(k, 1000 + k) for k in range(100, 200)}
    assert (found.cosines >= 0.9).all()


def test_one_cluster_is_every_pair_and_the_search_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    x = normalized(unit(rng, 300, 8))  # in 8 dimensions many pairs pass 0.8
    whole = similar_pairs(x, 0.8, cluster_size=1000, probe=1, seed=0)
    assert {tuple(p) for p in whole.pairs.tolist()} == brute(x, 0.8) and len(whole.pairs) > 100
    a = similar_pairs(x, 0.8, cluster_size=30, probe=2, seed=5)
    b = similar_pairs(x, 0.8, cluster_size=30, probe=2, seed=5)
    assert np.array_equal(a.pairs, b.pairs) and np.array_equal(a.cosines, b.cosines)
    wider = similar_pairs(x, 0.8, cluster_size=30, probe=4, seed=5)
    assert {tuple(p) for p in a.pairs.tolist()} <= {tuple(p) for p in wider.pairs.tolist()}


def test_kmeans_centroids_are_unit_and_nearest_orders_them() -> None:
    rng = np.random.default_rng(4)
    x = normalized(unit(rng, 500, 16))
    c = kmeans(x, 7, seed=1)
    assert c.shape == (7, 16) and np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    top = nearest(x, c, 3)
    scores = x.astype(np.float32) @ c.T
    picked = np.take_along_axis(scores, top, axis=1)
    assert (np.diff(picked, axis=1) <= 0).all() and (top[:, 0] == scores.argmax(axis=1)).all()
