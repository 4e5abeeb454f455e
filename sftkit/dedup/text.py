"""The text both stages compare: normalized, split into words, and cut into hashed n-grams.

Normalization is Unicode NFKC, case folding, invisible format characters removed and collapsed
whitespace (``sftkit.text.nfkc_casefold``); numbers are kept unless asked (two problems that differ
only in their numbers are different problems). Words follow ``sftkit.text``: in scripts written with
spaces a word is a run of letters, digits and marks, and every other non-space character is a word of
its own, so ``x+y=3`` and ``x + y = 3`` are the same five words; in Chinese, Japanese, Thai and the
other scripts written without spaces each character is a word. An n-gram spans ``n`` words of a
spaced script or ``chars`` characters of an unspaced one (mixed runs in proportion), so Chinese is
shingled by character n-grams. An n-gram's hash is a sum of its words' xxh3 hashes times one odd
constant per position, finalized by splitmix64: computed for a whole batch of documents at once in numpy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import regex
import xxhash

from sftkit.text import UNSPACED, nfkc_casefold, tokens, unspaced

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SYMBOLS = "".join(c for c in map(chr, range(128)) if not c.isalnum() and not c.isspace() and c != "_")
_PAD = str.maketrans({c: f" {c} " for c in _SYMBOLS})
_BLANK = str.maketrans({c: " " for c in _SYMBOLS})
# a number: digits or .5, signed by a minus that is no difference's (x = -3, (-3), x^{-1}; not 5-3 or x-3), and
# not after a letter of a spaced script (the 2 of x2 or h2o: those are words; 第3题 and 12个 hold numbers)
_SIGNED = r"(?:(?<![\w)\]}])([-\u2212]))?(\d+(?:[.,]\d+)*|(?<![.\d])\.\d+)"
_ASCII_NUMBER = re.compile(rf"(?<![^\W_]){_SIGNED}")
_STANDALONE_NUMBER = regex.compile(rf"(?<![\p{{L}}\p{{N}}\p{{M}}_](?<![{UNSPACED}])){_SIGNED}")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
NUMBER_TOKEN = "<num>"
_SUPERSCRIPTS, _SUBSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹", "₀₁₂₃₄₅₆₇₈₉"
_RAISED = re.compile(f"[{_SUPERSCRIPTS}]+|[{_SUBSCRIPTS}]+")
_DIGITS = str.maketrans(_SUPERSCRIPTS + _SUBSCRIPTS, "0123456789" * 2)
# odd 64-bit multipliers, one per position in an n-gram (so word order counts) or in a band
POSITION = np.random.default_rng(0x5F7D).integers(0, 2**63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _raised(match: re.Match) -> str:
    return ("^" if match.group()[0] in _SUPERSCRIPTS else "_") + match.group().translate(_DIGITS)


def normalize(text: str, numbers: bool = False) -> str:
    """NFKC, case-folded, invisible characters removed, whitespace collapsed; with ``numbers`` every
    number becomes one placeholder. Superscript and subscript digits are written as ``^`` and ``_`` write
    them (``x²`` is ``x^2``, ``a₁`` is ``a_1``): NFKC alone makes ``x²`` the word ``x2``, which hides the
    exponent from the numbers rule (``x² = 64`` and ``x³ = 64`` are two problems)."""
    if not text.isascii():
        text = _RAISED.sub(_raised, text)
    text = nfkc_casefold(text)
    return _NUMBER.sub(NUMBER_TOKEN, text) if numbers else text


def number_strings(normalized: str) -> list[str]:
    """The numbers of a normalized text, sorted (a multiset), each in one form: ``1,000`` = ``1000``,
    ``007`` = ``7``, ``2.50`` = ``2.5``, ``3.0`` = ``3``, ``.5`` = ``0.5``; ``-3`` keeps its sign. A comma
    between digits is a thousands separator only in groups of three; otherwise it separates two numbers
    (``(1,5)`` is 1 and 5). Digits after a letter of a spaced script are part of a word (``x2``, ``h2o``),
    not a number; beside a Chinese or Japanese character they are a number (``第3题``)."""
    out = []
    for sign, text in (_ASCII_NUMBER if normalized.isascii() else _STANDALONE_NUMBER).findall(normalized):
        parts = [text.replace(",", "")] if _THOUSANDS.fullmatch(text) else text.split(",")
        for k, part in enumerate(parts):
            whole, dot, fraction = part.partition(".")
            if "." not in fraction:  # a version-like 1.2.3 stays as written
                fraction = fraction.rstrip("0")
                part = (whole.lstrip("0") or "0") + (dot + fraction if fraction else "")
            out.append("-" + part if sign and k == 0 and part != "0" else part)
    return sorted(out)


def words(normalized: str, symbols: bool = True) -> list[str]:
    """The words of a normalized text; ``symbols=False`` keeps letters and digits only (prose n-grams:
    eight of them say more about a copied sentence than ``$ x $ : $`` does)."""
    if normalized.isascii():  # the same words, without the regex engine: pad symbols with spaces, split
        return normalized.translate(_PAD if symbols else _BLANK).split()
    return tokens(normalized, symbols)


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


def _spans(token_lists: list[list[str]], unspaced_at: np.ndarray | None, n: int, chars: int) -> tuple:
    """(document, first word, words) of every n-gram. Without unspaced characters every n-gram is ``n``
    words; else a word weighs ``chars`` and an unspaced character ``n``, and an n-gram is the shortest run
    of words weighing ``n * chars`` (n words, chars characters, or a mixed run in proportion). A text too
    light for one n-gram is one n-gram, its whole text."""
    lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
    first_word = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    if unspaced_at is None:
        counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
        doc = np.repeat(np.arange(len(token_lists)), counts)
        first_gram = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        starts = np.arange(len(doc), dtype=np.int64) - first_gram[doc]
        return doc, starts, np.minimum(lengths, n)[doc]
    weight = np.where(unspaced_at, n, chars).astype(np.int64)
    total = np.concatenate([[0], np.cumsum(weight)])
    token_doc = np.repeat(np.arange(len(token_lists)), lengths)
    end = np.searchsorted(total, total[:-1] + n * chars, "left")  # one past each n-gram's last word
    full = end <= (first_word + lengths)[token_doc]
    whole = np.flatnonzero((lengths > 0) & (np.bincount(token_doc[full], minlength=len(lengths)) == 0))
    at = np.concatenate([np.flatnonzero(full), first_word[whole]])
    size = np.concatenate([(end - np.arange(len(end)))[full], lengths[whole]])
    order = np.argsort(at, kind="stable")
    at, size = at[order], size[order]
    doc = token_doc[at]
    return doc, at - first_word[doc], size


def ngrams(token_lists: list[list[str]], n: int, chars: int | None = None) -> Grams:
    """Every n-gram of every document, in order: ``n`` words, or ``chars`` characters of a script written
    without spaces (default ``n``); a text of fewer is one n-gram."""
    every = [w for t in token_lists for w in t]
    h = xxhash.xxh3_64_intdigest
    table = {w: h(w.encode()) for w in dict.fromkeys(every)}  # each distinct word hashed once per batch
    flat = np.fromiter(map(table.__getitem__, every), dtype=np.uint64, count=len(every))
    unspaced_words = {w for w in table if unspaced(w)}
    unspaced_at = None
    if chars is not None and chars != n and unspaced_words:
        unspaced_at = np.fromiter(map(unspaced_words.__contains__, every), dtype=bool, count=len(every))
    doc, starts, size = _spans(token_lists, unspaced_at, n, chars or n)
    first_word = np.concatenate([[0], np.cumsum([len(t) for t in token_lists])[:-1]]).astype(np.int64)
    base = first_word[doc] + starts
    acc = np.zeros(len(doc), dtype=np.uint64)
    longest = int(size.max(initial=0))
    last, short = max(len(flat) - 1, 0), size.min(initial=longest) < longest
    with np.errstate(over="ignore"):
        for i in range(longest):
            term = flat[np.minimum(base + i, last)] * POSITION[i]
            acc += np.where(i < size, term, np.uint64(0)) if short else term
        return Grams(mix(acc + size.astype(np.uint64)), doc, starts, size)


def ngram_set(words: list[str], n: int, chars: int | None = None) -> np.ndarray:
    """One document's distinct n-gram hashes, sorted: the set whose Jaccard index MinHash estimates."""
    return np.unique(ngrams([words], n, chars).hashes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard index of two sorted sets of hashes."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0
