"""MinHash banding and bucket pairs: docs/stages/dedup.md's S-curve is the formula, every bucket member paired."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import REPO

from sftkit.dedup import arrays
from sftkit.dedup.clusters import bucket_pairs, compact, components, forest
from sftkit.dedup.minhash import candidate_probability, choose_bands, midpoint

pytestmark = pytest.mark.unit


def test_the_docs_s_curve_table_is_the_formula() -> None:
    readme = (REPO / "docs/stages/dedup.md").read_text()
    bands, rows = choose_bands(0.8, 112)
    assert f"{bands} bands × {rows} rows" in readme
    table = re.search(r"\| J \|.*?\n\n", readme, re.S).group(0)
    found = {float(j): float(p) for j, p in re.findall(r"\| (0\.\d+) \| (0\.\d+) \|", table)}
    assert set(found) == {0.5, 0.7, 0.8, 0.9}
    for j, p in found.items():
        assert p == round(float(candidate_probability(j, bands, rows)), 4)
    crossing = midpoint(bands, rows)
    assert candidate_probability(crossing, bands, rows) == pytest.approx(0.5)
    assert f"rises through 0.5 at J = {crossing:.3f}" in readme


def test_bucket_pairs_pairs_every_member_and_counts_capped_buckets() -> None:
    keys = np.array([5, 3, 5, 5, 3, 9, 5, 5], dtype=np.uint64)
    pairs, first, over = bucket_pairs(keys, np.arange(8), cap=10)
    assert {tuple(p) for p in pairs[first].tolist()} == {(1, 4), (0, 2), (0, 3), (0, 6), (0, 7)}
    assert over == 0 and {tuple(p) for p in pairs.tolist()} == {(1, 4)} | {
        (a, b) for a in (0, 2, 3, 6, 7) for b in (0, 2, 3, 6, 7) if a < b
    }
    members = np.array([0, 2, 3, 5, 6, 7])
    pairs, _, over = bucket_pairs(keys[members], members, cap=2)  # 5 rows over a cap of 2
    assert over == 5 and {tuple(p) for p in pairs.tolist()} == {(0, 2), (0, 3), (0, 6), (0, 7), (2, 3), (2, 6), (2, 7)}
    pairs, _, _ = bucket_pairs(keys, np.arange(8), cap=10, inputs=3)  # rows 3.. are a reference set
    assert {tuple(p) for p in pairs.tolist()} == {(1, 4), (0, 2), (0, 3), (0, 6), (0, 7), (2, 3), (2, 6), (2, 7)}


def test_forest_keeps_the_components_with_one_edge_per_row() -> None:
    rng = np.random.default_rng(0)
    pairs = np.sort(rng.integers(0, 10**12, size=(400, 2)) // 10**10, axis=1)  # large node ids, 100 of them
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    edges = forest(pairs)
    touched, local = compact(pairs)
    assert len(edges) <= len(touched) and set(np.unique(edges).tolist()) <= set(touched.tolist())
    assert (edges[:, 1] < edges[:, 0]).all()  # each row joins its component's lowest row
    same = components(local, len(touched))
    again = components(np.searchsorted(touched, edges), len(touched))
    assert (np.unique(same, return_inverse=True)[1] == np.unique(again, return_inverse=True)[1]).all()
    assert len(forest(np.zeros((0, 2), dtype=np.int64))) == 0


def test_store_reads_columns_in_chunks_and_rows_across_blocks(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(arrays, "CHUNK_ROWS", 3)
    blocks, sizes, whole = [], [], []
    for k, n in enumerate([5, 0, 4]):
        a = np.arange(n * 2, dtype=np.uint64).reshape(n, 2) + 100 * k
        np.save(tmp_path / f"b{k}.npy", a)
        blocks.append({"x": tmp_path / f"b{k}.npy"})
        sizes.append(n)
        whole.append(a)
    store, whole = arrays.Store(blocks, sizes), np.concatenate(whole)
    chunks = list(store.chunks("x", 1))
    assert [start for start, _ in chunks] == [0, 3, 5, 8] and (
        np.concatenate([c for _, c in chunks]) == whole[:, 1]
    ).all()
    index = np.array([8, 0, 5, 4, 8])
    assert (store.rows("x", index) == whole[index]).all()


def test_chinese_is_cut_into_character_ngrams_and_mixed_runs_in_proportion() -> None:
    """3 words of a spaced script or 5 characters of an unspaced one: a word weighs 5, a character 3."""
    from sftkit.dedup.text import ngrams, normalize, words

    tokens = words(normalize("例3 今天天气很好 play ball now"))
    assert tokens == ["例", "3", "今", "天", "天", "气", "很", "好", "play", "ball", "now"]
    g = ngrams([tokens], 3, 5)
    # 例3今天天 (3+5+3+3+3), 3今天天气, ..., 很好 play ball (3+3+5+5), 好 play ball now, play ball now
    assert g.size.tolist() == [5, 5, 5, 5, 5, 5, 4, 4, 3]
    assert ngrams([tokens[2:5]], 3, 5).size.tolist() == [3]  # too light for one n-gram: the whole text
    english = [words(normalize("the quick brown fox jumps"))]
    assert (ngrams(english, 3, 5).hashes == ngrams(english, 3).hashes).all()  # spaced text: as before


def test_numbers_are_a_multiset_in_one_form() -> None:
    from sftkit.dedup.text import number_strings

    assert number_strings("1,000 and 007 and 2.50, 3.0 (1,5) x2 h2o 3x") == ["1", "1000", "2.5", "3", "3", "5", "7"]
    # a number beside a Chinese character is a number (第3题, 12个); .5 is 0.5, not 5; a minus before a number
    # is its sign (x = -3, (-3), x^{-1}), not the minus of a difference (5-3, x-3)
    assert number_strings("第3题：他有12个苹果") == ["12", "3"]
    assert number_strings("x = .5 or 0.50") == ["0.5", "0.5"] and number_strings("1...5") == ["1", "5"]
    assert number_strings("x = -3, f(-2.0), x^{-1}, 5-4, x-7, −6, -0") == ["-1", "-2", "-3", "-6", "0", "4", "5", "7"]
    # superscript and subscript digits are exponents and indices, as ^ and _ write them, not a word x2 (NFKC)
    from sftkit.dedup.text import normalize

    assert normalize("x² + y³⁰ + a₁₂") == normalize("x^2 + y^30 + a_12") == "x^2 + y^30 + a_12"
    assert number_strings(normalize("x² = 64")) != number_strings(normalize("x³ = 64"))
