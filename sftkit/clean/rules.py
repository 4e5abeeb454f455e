"""The Gopher quality and repetition rules (Rae et al. 2021), counted the way datatrove 0.10.1 counts them,
with words from ``sftkit.text.tokens`` instead of spaCy (90% of datatrove's time as measured in the issue; it
needs its language data; and its English tokenizer splits on spaces and punctuation, so an unspaced Chinese
clause is one word, where ``tokens`` makes each CJK character a word).

Chinese, Japanese and Thai (``unspaced_share`` >= 0.5): words are characters; mean word length and stop
words are not applied (a character is not a word length, and the stop words are English); n-grams are
character n-grams and their length counts no spaces, since the text has none.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np
import regex

from sftkit.clean.config import RULES
from sftkit.text import tokens, unspaced_share

STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))  # datatrove's, from the paper
UNSPACED = 0.5  # unspaced_share from which a text counts by character
_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
_HEADING_MARKS = re.compile(r"^[ \t]*(#{1,6})(?=[ \t])", re.M)
_HAS_WORD = regex.compile(r"[\p{L}\p{N}]")
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9_]+|[^A-Za-z0-9_\s]")  # ``tokens`` on ASCII text, 5 times faster
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")
_ASCII_NUMBER = re.compile(r"(?<![A-Za-z0-9_])[0-9]+(?![A-Za-z0-9_])")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def _is_word(token: str) -> bool:
    """A token of letters or digits (``tokens`` makes every symbol a one-character token of its own)."""
    return len(token) > 1 or token.isalnum() or token == "_"


def _duplicates(parts: list[str], count_symbol_parts: bool) -> tuple[int, int]:
    """How many parts repeat an earlier one, and their characters (datatrove's find_duplicates). Under the SFT
    counting a part without a letter or digit ('$$', '```', '---') is markup, not a repeat."""
    seen: set[str] = set()
    dup, chars = 0, 0
    for part in parts:
        if part in seen:
            if count_symbol_parts or _HAS_WORD.search(part):
                dup += 1
                chars += len(part)
        else:
            seen.add(part)
    return dup, chars


def _ngram_keys(ids: np.ndarray, n: int) -> list[int]:
    """A 64-bit key per n-gram of word ids (a polynomial hash; wrapping multiplication is the modulus)."""
    keys = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            keys = keys * np.uint64(1_000_003) + ids[k : len(ids) - n + 1 + k]
    return keys.tolist()


def _all_distinct(toks: list[str], n: int) -> bool:
    grams = list(zip(*(toks[i:] for i in range(n))))
    return len(set(grams)) == len(grams)


def _dup_ngram_chars(keys: list[int], cum: list[int], n: int) -> int:
    """Characters in repeated n-grams, a repeat skipping its n words (datatrove's find_all_duplicate);
    ``cum``: the words' cumulative lengths."""
    seen: set[int] = set()
    repeated, idx, stop = 0, 0, len(keys)
    while idx < stop:
        key = keys[idx]
        if key in seen:
            repeated += cum[idx + n] - cum[idx]
            idx += n
        else:
            seen.add(key)
            idx += 1
    return repeated


def measure(text: str, wanted: frozenset[str], gopher: bool = False) -> dict[str, float]:
    """The value of each rule in ``wanted`` for ``text``; a rule that does not apply (mean word length of
    Chinese, an empty text's ratios) has no value. ``gopher``: the paper's counting everywhere (see
    ``CleanConfig.gopher_mode``)."""
    out: dict[str, float] = {}
    if text.isascii():  # the same tokens and words, found by C code
        toks, words = _ASCII_TOKEN.findall(text), _ASCII_WORD.findall(text)
    else:
        toks = tokens(text)
        words = [t for t in toks if _is_word(t)]
    n_tokens, n_words = len(toks), len(words)
    out["min_words"] = out["max_words"] = n_words
    unspaced = 0.0 if text.isascii() else unspaced_share(text)
    numbers = _ASCII_NUMBER.findall(text) if text.isascii() else [w for w in words if w.isdecimal()]
    if words and unspaced < UNSPACED and wanted & {"min_mean_word_length", "max_mean_word_length"}:
        spaced = words if not unspaced else [w for w in words if not unspaced_share(w)]
        count, chars = len(spaced), sum(map(len, spaced))
        if not gopher:  # SFT: numbers are no words here
            count, chars = count - len(numbers), chars - sum(map(len, numbers))
        if count > 0:
            out["min_mean_word_length"] = out["max_mean_word_length"] = chars / count
    if n_tokens:
        hashes = text.count("#")
        if not gopher and hashes:
            hashes -= sum(len(m) for m in _HEADING_MARKS.findall(text))
        out["max_hash_ratio"] = hashes / n_tokens
        out["max_ellipsis_ratio"] = (text.count("...") + text.count("…")) / n_tokens
        alpha = n_words - len(numbers)
        out["min_alpha_words"] = alpha / n_tokens if gopher else alpha / n_words if n_words else 0.0
    lines = text.splitlines()
    if lines:
        out["max_bullet_lines"] = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
        out["max_ellipsis_lines"] = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
    if unspaced < UNSPACED and "min_stop_words" in wanted:
        out["min_stop_words"] = len(STOP_WORDS.intersection(toks))
    if text:
        _repetition(text, toks, unspaced, wanted, gopher, out)
    return out


def _repetition(
    text: str, toks: list[str], unspaced: float, wanted: frozenset[str], gopher: bool, out: dict[str, float]
) -> None:
    size = len(text)
    paragraphs = _PARAGRAPH.split(text.strip())
    dup, chars = _duplicates(paragraphs, gopher)
    out["max_dup_para_frac"], out["max_dup_para_char_frac"] = dup / len(paragraphs), chars / size
    lines = _LINES.split(text)
    dup, chars = _duplicates(lines, gopher)
    out["max_dup_line_frac"], out["max_dup_line_char_frac"] = dup / len(lines), chars / size
    spaces = 1 if gopher or unspaced < UNSPACED else 0  # the joiner datatrove counts between an n-gram's words
    repeats = {}  # n: the count of the most frequent n-gram
    for n in TOP_NGRAMS:
        name = f"max_top_{n}gram_char_frac"
        if name not in wanted or len(toks) < n:
            continue
        if repeats.get(n - 1) == 1:
            out[name] = 0.0 if not gopher else (sum(map(len, toks[:n])) + spaces * (n - 1)) / size
            repeats[n] = 1  # no (n-1)-gram repeats, so no n-gram does: the first one is a most frequent
            continue
        gram, count = Counter(zip(*(toks[i:] for i in range(n)))).most_common(1)[0]
        repeats[n] = count
        out[name] = (sum(map(len, gram)) + spaces * (n - 1)) * count / size if gopher or count > 1 else 0.0
    dups = [n for n in DUP_NGRAMS if f"max_dup_{n}gram_char_frac" in wanted]
    if not dups:
        return
    if repeats.get(max(TOP_NGRAMS)) == 1 or _all_distinct(toks, min(dups)):  # then no longer n-gram repeats
        out.update((f"max_dup_{n}gram_char_frac", 0.0) for n in dups)
        return
    vocab: dict[str, int] = {}
    ids = np.array([vocab.setdefault(t, len(vocab) + 1) for t in toks], dtype=np.uint64)
    cum = [0, *itertools.accumulate(map(len, toks))]
    for n in dups:
        chars = _dup_ngram_chars(_ngram_keys(ids, n), cum, n) if len(toks) >= n else 0
        out[f"max_dup_{n}gram_char_frac"] = chars / size


def fired(values: dict[str, float], thresholds: dict[str, float | None]) -> list[tuple[str, float]]:
    """The rules whose threshold ``values`` cross, in ``RULES`` order (the first is the one reported)."""
    out = []
    for name, limit in thresholds.items():
        value = values.get(name)
        if limit is None or value is None:
            continue
        if (value < limit) if RULES[name].kind == "min" else (value > limit):
            out.append((name, value))
    return out


def wanted_rules(thresholds: dict[str, float | None]) -> frozenset[str]:
    return frozenset(name for name, limit in thresholds.items() if limit is not None)
