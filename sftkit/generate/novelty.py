"""Self-Instruct's novelty rule, indexed: keep an item only when its ROUGE-L with every instruction in
the pool, and with every item kept before it, is below the threshold.

ROUGE-L here is rouge-score's F-measure without stemming, as the Self-Instruct code computes it:
``2 * LCS / (len(a) + len(b))`` over tokens. Tokens are rouge-score's for English (lower-cased runs of
``a-z0-9``; the scores agree exactly, see bench/generate.py) and one token per character for CJK
(Chinese, Japanese kana, Korean), which rouge-score drops entirely; runs of other letters are one token.

All pairs cost O(pool) LCS computations per item. The index makes it cheap: an inverted index over tokens
(posting lists in item order) gives the items sharing one of the text's rarest tokens (a prefix filter:
an item that can reach the threshold must share one of them), then each one's count of shared tokens
(with multiplicity), which bounds the LCS from above; only items whose bound reaches the threshold
(``2 * shared >= t * (m + n)``) get an exact LCS, computed bit-parallel (Allison-Dix / Hyyrö: one
big-integer step per token). The decision is the same as all pairs' (the tests check it).

"Earlier items" are the items kept before this one in the same shard, in row, sample and item order; a
resumed shard first re-adds its saved rows, so the result does not depend on checkpoints or restarts.
Shards do not see each other's items: run the dedup stage after a sharded run, or one shard per round.
"""

from __future__ import annotations

import math
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


def _masks(a: Sequence[int]) -> dict[int, int]:
    masks: dict[int, int] = {}
    for i, x in enumerate(a):
        masks[x] = masks.get(x, 0) | (1 << i)
    return masks


def lcs(a: Sequence[int], b: Sequence[int], masks: dict[int, int] | None = None) -> int:
    """Length of the longest common subsequence, bit-parallel over ``a`` (``masks``: ``_masks(a)``, reused
    when ``a`` is compared with many ``b``)."""
    if not a or not b:
        return 0
    masks = _masks(a) if masks is None else masks
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
        """(a ROUGE-L at or above the threshold, its item) or (0.0, -1), as all pairs would decide.

        Prefix filter: an item can reach the threshold only if it shares at least ``need`` tokens with the
        text (``need = t * m / (2 - t)``, the least any length allows), so it shares one of the text's
        ``m - need + 1`` rarest tokens: only their posting lists are read whole, giving each item's shared
        count for those tokens. The rest of the text (common tokens, whose lists are long) can add at most
        its length: items that cannot reach the threshold even so are dropped. For the others the common
        tokens' counts are read by binary search (lists are in item order), and only items whose shared
        count reaches the threshold (``2 * shared >= t * (m + n)``, an upper bound of the LCS) get an exact,
        bit-parallel LCS."""
        ids = self._ids(text, grow=False)
        m, t = len(ids), self.threshold
        if not m or not self.items:
            return 0.0, -1
        counts = Counter(ids)
        need = max(1, math.ceil(t * m / (2 - t) - 1e-9))
        by_rarity = sorted(ids, key=lambda k: (len(self.postings[k][0]) if k >= 0 else 0, k))
        head = Counter(by_rarity[: m - need + 1])
        prefix = [k for k in head if k >= 0]
        if not prefix:
            return 0.0, -1
        shared = np.bincount(
            np.concatenate([np.frombuffer(self.postings[k][0], dtype=np.int32) for k in prefix]),
            np.concatenate([np.minimum(np.frombuffer(self.postings[k][1], dtype=np.int32), counts[k]) for k in prefix]),
            minlength=len(self.items),
        )
        members = np.nonzero(shared)[0]
        lengths = np.frombuffer(self.lengths, dtype=np.int32)[members]
        overlap = shared[members].astype(np.int64)
        rest = m - sum(head.values())
        fits = 2 * np.minimum(overlap + np.minimum(rest, lengths), lengths) >= t * (m + lengths) - 1e-9
        members, lengths, overlap = members[fits], lengths[fits], overlap[fits]
        for k, c in counts.items():
            if k < 0 or k in head or not len(members):
                continue
            items = np.frombuffer(self.postings[k][0], dtype=np.int32)
            at = np.minimum(np.searchsorted(items, members), len(items) - 1)
            found = items[at] == members
            overlap += np.where(found, np.minimum(np.frombuffer(self.postings[k][1], dtype=np.int32)[at], c), 0)
        reach = np.nonzero(2 * overlap >= t * (m + lengths) - 1e-9)[0]
        masks = _masks(ids)
        for j in reach[np.argsort(-overlap[reach], kind="stable")]:
            item = int(members[j])
            score = 2 * lcs(ids, self.items[item], masks) / (m + int(lengths[j]))
            if score >= t - 1e-12:
                return score, item
        return 0.0, -1

    def similar(self, text: str) -> str | None:
        """Why ``text`` is not novel (its ROUGE-L with the pool or an earlier item reaches the threshold), or None."""
        _, item = self.match(text)
        if item < 0:
            return None
        what = "a pool instruction" if item < self.pool_size else "an earlier item"
        return f"too similar to {what} (ROUGE-L >= {self.threshold:g})"
