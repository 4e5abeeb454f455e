"""Self-Instruct's novelty rule, indexed: keep an item only when its ROUGE-L with every instruction in
the pool, and with every item kept before it, is below the threshold.

ROUGE-L here is rouge-score's F-measure without stemming, as the Self-Instruct code computes it:
``2 * LCS / (len(a) + len(b))`` over tokens. Tokens are rouge-score's for English (lower-cased runs of
``a-z0-9``; the scores agree exactly, see bench/generate.py) and one token per character for CJK
(Chinese, Japanese kana, Korean), which rouge-score drops entirely; runs of other letters are one token.

All pairs cost O(pool) LCS computations per item. The index makes it cheap: an inverted index over tokens
gives, for a candidate, each pool item's count of shared tokens (with multiplicity), which bounds the
LCS from above; only items whose bound can reach the threshold (``2 * shared >= t * (m + n)``) get an
exact LCS, computed bit-parallel (Allison-Dix / Hyyrö: one big-integer step per token). The decision is
the same as all pairs'.

"Earlier items" are the items kept before this one in the same shard, in row, sample and item order; a
resumed shard first re-adds its saved rows, so the result does not depend on checkpoints or restarts.
Shards do not see each other's items: run the dedup stage after a sharded run, or one shard per round.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[a-z0-9]+|[{_CJK}]|[^\W\x00-\x7f{_CJK}_]+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def word_count(text: str) -> int:
    """Words as the novelty rule counts them (a CJK character is one)."""
    return len(tokens(text))


def lcs(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common subsequence, bit-parallel over ``a``."""
    if not a or not b:
        return 0
    masks: dict[int, int] = {}
    for i, x in enumerate(a):
        masks[x] = masks.get(x, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for y in b:
        u = v & masks.get(y, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


class Novelty:
    """The pool and the items kept so far, indexed by token. ``similar`` says why a text is too close."""

    def __init__(self, threshold: float, pool: Iterable[str] = ()) -> None:
        self.threshold = threshold
        self.vocab: dict[str, int] = {}
        self.postings: list[tuple[array, array]] = []  # per token: item ids, the token's count in each
        self.items: list[array] = []
        self.lengths = array("i")
        for text in pool:
            self.add(text)
        self.pool_size = len(self.items)

    def _ids(self, text: str, grow: bool) -> list[int]:
        out = []
        for token in tokens(text):
            k = self.vocab.get(token)
            if k is None:
                if not grow:
                    out.append(-1)
                    continue
                k = self.vocab[token] = len(self.postings)
                self.postings.append((array("i"), array("i")))
            out.append(k)
        return out

    def add(self, text: str) -> None:
        ids = self._ids(text, grow=True)
        item = len(self.items)
        for token, count in Counter(ids).items():
            self.postings[token][0].append(item)
            self.postings[token][1].append(count)
        self.items.append(array("i", ids))
        self.lengths.append(len(ids))

    def match(self, text: str) -> tuple[float, int]:
        """(a ROUGE-L at or above the threshold, its item) or (0.0, -1). Only items whose shared-token
        bound reaches the threshold are compared exactly, most shared tokens first."""
        ids = self._ids(text, grow=False)
        m = len(ids)
        if not m or not self.items:
            return 0.0, -1
        known = Counter(k for k in ids if k >= 0)
        if not known:
            return 0.0, -1
        members = [np.frombuffer(self.postings[k][0], dtype=np.int32) for k in known]
        shared = [np.minimum(np.frombuffer(self.postings[k][1], dtype=np.int32), c) for k, c in known.items()]
        overlap = np.bincount(np.concatenate(members), np.concatenate(shared), minlength=len(self.items))
        lengths = np.frombuffer(self.lengths, dtype=np.int32)
        reach = np.nonzero(2 * overlap >= self.threshold * (m + lengths) - 1e-9)[0]
        for item in reach[np.argsort(-overlap[reach], kind="stable")]:
            score = 2 * lcs(ids, self.items[item]) / (m + lengths[item])
            if score >= self.threshold - 1e-12:
                return score, int(item)
        return 0.0, -1

    def similar(self, text: str) -> str | None:
        """Why ``text`` is not novel (its ROUGE-L with the pool or an earlier item reaches the threshold), or None."""
        _, item = self.match(text)
        if item < 0:
            return None
        what = "a pool instruction" if item < self.pool_size else "an earlier item"
        return f"too similar to {what} (ROUGE-L >= {self.threshold:g})"
