"""The text both stages compare: normalized, split into words, and cut into hashed word n-grams.

Normalization is Unicode NFKC, case folding and collapsed whitespace; numbers are kept unless asked
(two problems that differ only in their numbers are different problems). Words are runs of letters
and digits, and every other non-space character is a word of its own, so ``x+y=3`` and ``x + y = 3``
are the same five words (decontamination counts runs of letters and digits only). An n-gram's hash
is a sum of its words' xxh3 hashes times one odd constant per position, finalized by splitmix64:
computed for a whole batch of documents at once in numpy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import xxhash

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+|[^\w\s]")
_PROSE = re.compile(r"\w+")
_SYMBOLS = "".join(c for c in map(chr, range(128)) if not c.isalnum() and not c.isspace() and c != "_")
_PAD = str.maketrans({c: f" {c} " for c in _SYMBOLS})
_BLANK = str.maketrans({c: " " for c in _SYMBOLS})
NUMBER_TOKEN = "<num>"
# odd 64-bit multipliers, one per position in an n-gram (so word order counts) or in a band
POSITION = np.random.default_rng(0x5F7D).integers(0, 2**63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def normalize(text: str, numbers: bool = False) -> str:
    """NFKC, case-folded, whitespace collapsed; with ``numbers`` every number becomes one placeholder."""
    text = " ".join((text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()).split())
    return _NUMBER.sub(NUMBER_TOKEN, text) if numbers else text


def words(normalized: str, symbols: bool = True) -> list[str]:
    """The words of a normalized text; ``symbols=False`` keeps letters and digits only (prose n-grams:
    eight of them say more about a copied sentence than ``$ x $ : $`` does)."""
    if normalized.isascii():  # the same words, without the regex engine: pad symbols with spaces, split
        return normalized.translate(_PAD if symbols else _BLANK).split()
    return (_WORD if symbols else _PROSE).findall(normalized)


def exact_hash(normalized: str) -> int:
    return xxhash.xxh3_64_intdigest(normalized.encode())


def mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads the bits of a sum of products over the whole word."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


@dataclass
class Grams:
    """The word n-grams of a batch of documents, flat: ``hashes[i]`` starts at word ``starts[i]`` of
    document ``doc[i]`` and is ``size[i]`` words long (n, or the whole text when it has fewer words)."""

    hashes: np.ndarray
    doc: np.ndarray
    starts: np.ndarray
    size: np.ndarray

    def offsets(self, documents: int) -> np.ndarray:
        """``documents + 1`` offsets of each document's n-grams in ``hashes``."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.doc, minlength=documents))]).astype(np.int64)


def ngrams(token_lists: list[list[str]], n: int) -> Grams:
    """Every n-gram of every document, in order; a text of fewer than ``n`` words is one n-gram."""
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    every = [w for t in token_lists for w in t]
    h = xxhash.xxh3_64_intdigest
    table = {w: h(w.encode()) for w in dict.fromkeys(every)}  # each distinct word hashed once per batch
    flat = np.fromiter(map(table.__getitem__, every), dtype=np.uint64, count=len(every))
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    doc = np.repeat(np.arange(len(token_lists)), counts)
    first_word = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    first_gram = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    starts = np.arange(len(doc), dtype=np.int64) - first_gram[doc]
    size = np.minimum(lengths, n)[doc]
    base = first_word[doc] + starts
    acc = np.zeros(len(doc), dtype=np.uint64)
    last, short = max(len(flat) - 1, 0), size.min(initial=n) < n
    with np.errstate(over="ignore"):
        for i in range(n):
            term = flat[np.minimum(base + i, last)] * POSITION[i]
            acc += np.where(i < size, term, np.uint64(0)) if short else term
        return Grams(mix(acc + size.astype(np.uint64)), doc, starts, size)


def ngram_set(tokens: list[str], n: int) -> np.ndarray:
    """One document's distinct n-gram hashes, sorted: the set whose Jaccard index MinHash estimates."""
    return np.unique(ngrams([tokens], n).hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard index of two sorted sets of hashes."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0
