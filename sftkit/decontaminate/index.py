"""Benchmarks as an n-gram index, and the per-row match the decontamination stage runs.

Both sides are read in one form: LaTeX rewritten (``latex.math_form``), normalized, split into words
(runs of letters and digits; one character per word in Chinese, Japanese, Thai, ...). Each text field
of a row is matched on its own. An n-gram is n words, or ``chars`` characters of an unspaced script.
A row matches a benchmark problem when it has at least ``min_hits`` of the problem's distinct n-grams
(all of them if the problem has fewer); n-grams found in many distinct problems (boilerplate, a shared
instruction) are not indexed. A text too short for one n-gram is one gram, its whole text: it matches
only a benchmark problem that is the same text; a problem that short is found whole inside a longer
text. With MinHash on, a text of at least 16 words is also contaminated when it shares an LSH band
with a benchmark problem and their exact Jaccard over word 2-grams reaches the threshold (0.4 by
default): rewordings that keep no long n-gram. A row keeps its best match only: one hits line a row.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, as_text, usable_rows
from sftkit.data.sources import InputSpec, open_source
from sftkit.decontaminate.latex import math_form
from sftkit.dedup.minhash import MinHasher
from sftkit.dedup.text import Grams, jaccard, ngram_set, ngrams, normalize, words
from sftkit.errors import InputError, enforce_policy
from sftkit.runner.stage import StageResult

# well-known benchmarks: NAME -> ID[:CONFIG]:SPLIT:FIELD (see docs/stages/decontaminate.md)
SHORTCUTS = {
    "math500": "HuggingFaceH4/MATH-500:test:problem",
    "aime": "AI-MO/aimo-validation-aime:train:problem",
    "amc": "AI-MO/aimo-validation-amc:train:problem",
    "gsm8k": "openai/gsm8k:main:test:question",
    "gpqa-diamond": "Idavidrein/gpqa:gpqa_diamond:train:Question",
    "hle": "cais/hle:test:question",
}
MINHASH_NGRAM = (
    2  # --minhash: word 2-grams, threshold 0.4 (docs/stages/decontaminate.md: measured on planted rewordings)
)
MINHASH_THRESHOLD = 0.4
MINHASH_MIN_WORDS = 16  # below, a changed number moves J by > 0.1: a rewording and a sibling problem look alike
MIN_HITS = 3  # distinct n-grams in common with one problem (docs/stages/decontaminate.md: measured)
STOP_ITEMS = 5  # an n-gram in this many distinct benchmark problems is boilerplate, not evidence
STOP_EXAMPLES = 10
CHAR_NGRAM = 12  # characters per n-gram in Chinese, Japanese, Thai...: about 8 words' worth
HITS_FIELD = "_sftkit_contamination"  # the hits travel with the row in the part; the merge takes them out
_NAMED = re.compile(r"[\w.-]+=")  # NAME=SPEC


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    input: str
    config: str | None
    split: str
    field: str

    @classmethod
    def parse(cls, text: str) -> BenchmarkSpec:
        """[NAME=]SHORTCUT or [NAME=]ID_OR_PATH[[[:CONFIG]:SPLIT]:FIELD]: the last part is the field; the
        name (default: the shortcut, the file's stem or the id) labels its hits."""
        label, spec = text.split("=", 1) if _NAMED.match(text) else (None, text)
        name, spec = (spec, SHORTCUTS[spec]) if spec in SHORTCUTS else (None, spec)
        parts = spec.split(":")
        if len(parts) > 4 or not all(parts):
            raise InputError(
                f"--benchmark {text!r}: expected [NAME=] and a shortcut ({', '.join(SHORTCUTS)}) or "
                "ID_OR_PATH[[[:CONFIG]:SPLIT]:FIELD]"
            )
        where, rest = parts[0], parts[1:]
        if name is None and not rest and "/" not in where and not Path(where).expanduser().exists():
            close = difflib.get_close_matches(where, SHORTCUTS, 1)  # a typo, not a Hub id (those are ORG/NAME)
            raise InputError(
                f"--benchmark {text!r}: no shortcut ({'did you mean ' + close[0] + '? ' if close else ''}"
                f"{', '.join(SHORTCUTS)}) and no file here; a Hub dataset is ORG/NAME[[[:CONFIG]:SPLIT]:FIELD]"
            )
        fld = rest.pop() if rest else "problem"
        split = rest.pop() if rest else None
        config = rest.pop() if rest else None
        return cls(
            label or name or (Path(where).stem if Path(where).exists() else where), where, config, split or "", fld
        )

    def source_spec(self) -> InputSpec:
        """A split or config means ``datasets.load_dataset`` (a Hub id, or a local folder laid out like one)."""
        return InputSpec(self.input, self.config, self.split or "train", "hub" if self.split else "auto")

    def offline_arg(self) -> str:
        """The --benchmark that reads a copy downloaded to data/ID."""
        return f"{self.name}=" + ":".join(
            [f"data/{self.input}", *filter(None, [self.config, self.split or "train"]), self.field]
        )


@dataclass
class Item:
    benchmark: str
    id: str
    text: str


@dataclass
class BenchmarkIndex:
    """Every benchmark problem's n-grams (a problem shorter than n words: its whole text, one gram) as
    two sorted arrays, n-gram hash and item, built once at the first lookup: 16 bytes a gram, linear
    to build, a binary search per row gram. An n-gram found in ``stop_items`` or more distinct problems
    is boilerplate ("let x be a real number such that ...", a shared instruction) and is left out."""

    n: int
    numbers: bool
    chars: int | None = None
    min_hits: int = MIN_HITS
    stop_items: int = STOP_ITEMS
    items: list[Item] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)  # (grams, 2) uint64: hash, item
    short_sizes: set[int] = field(default_factory=set)
    table: tuple[np.ndarray, np.ndarray] | None = None
    item_grams: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stopped: tuple[int, list[str]] = (0, [])  # boilerplate n-grams left out: how many, a few of them
    identity: dict[str, Any] = field(default_factory=dict)
    minhash: MinHasher | None = None
    minhash_n: int = MINHASH_NGRAM
    bands: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    sets: list[np.ndarray] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)

    def add(self, spec: BenchmarkSpec, on_bad_record: str) -> int:
        """Index one benchmark; returns its item count. A missing field is one line naming what exists."""
        source = open_source(spec.source_spec(), "--benchmark", spec.offline_arg())
        ids, texts, bad = [], [], 0
        for batch in source.iter_all(4096):
            batch.require({spec.field: "the field of --benchmark SPEC:CONFIG:SPLIT:FIELD"})
            _, records, rejects = usable_rows(batch, "id", [TextField(spec.field, numbers=True)])
            bad += len(enforce_policy(rejects + batch.rejects, on_bad_record))
            for r in records:
                ids.append(str(r.get("unique_id") or r.get("id")))
                texts.append(self.text(r[spec.field]))
        if not texts:
            raise InputError(f"--benchmark {spec.name}: no usable problems in field {spec.field!r}")
        if bad:
            print(
                f"warning: benchmark {spec.name}: {bad} items without a usable {spec.field!r} are not indexed",
                file=sys.stderr,
            )
        self.identity[spec.name] = {**spec.__dict__, "data": source.identity()}
        token_lists = [words(t, symbols=False) for t in texts]
        first = len(self.items)
        self.items += [Item(spec.name, i, t) for i, t in zip(ids, texts)]
        self.tokens += token_lists
        g = ngrams(token_lists, self.n, self.chars)
        self.blocks.append(np.stack([g.hashes, (g.doc + first).astype(np.uint64)], axis=1))
        lengths = np.array([len(t) for t in token_lists])
        whole = (np.bincount(g.doc, minlength=len(texts))[g.doc] == 1) & (g.size == lengths[g.doc])
        self.short_sizes.update(g.size[whole].tolist())  # problems of one gram, matched whole inside a row
        self.table = None
        if self.minhash:
            self.sets += [ngram_set(t, self.minhash_n, self.chars) for t in token_lists]
            worded = [d for d, t in enumerate(token_lists) if t]  # a problem of symbols only has no signature
            for d, row in zip(worded, self.minhash_bands([token_lists[d] for d in worded]).tolist()):
                for j, h in enumerate(row):
                    self.bands[(j, h)].append(first + d)
        return len(texts)

    def text(self, value: str) -> str:
        """The form both sides are matched in: LaTeX in one form (``latex.math_form``), then normalized."""
        return normalize(math_form(value), self.numbers)

    def minhash_bands(self, token_lists: list[list[str]]) -> np.ndarray:
        """(texts, bands) LSH band hashes of texts that each have at least one word."""
        assert self.minhash is not None
        g = ngrams(token_lists, self.minhash_n, self.chars)
        return self.minhash.band_hashes(self.minhash.signatures(g.hashes, g.offsets(len(token_lists))))

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """The (hash, item) table without boilerplate; counts each item's grams and keeps the stop-list."""
        if self.table is None:
            pairs = np.unique(np.concatenate(self.blocks), axis=0)  # a gram repeated within one problem: once
            texts = np.unique([" ".join(t) for t in self.tokens], return_inverse=True)[1]  # copies count once
            distinct = np.unique(np.stack([pairs[:, 0], texts[pairs[:, 1].astype(np.int64)]], axis=1), axis=0)
            grams, spread = np.unique(distinct[:, 0], return_counts=True)
            stop = grams[spread >= self.stop_items]
            boiler = np.isin(pairs[:, 0], stop)
            first = np.unique(pairs[boiler, 0], return_index=True)[1][:STOP_EXAMPLES]
            self.stopped = (len(stop), sorted(self._gram_text(p) for p in pairs[boiler][first]))
            pairs = pairs[~boiler]
            items = pairs[:, 1].astype(np.int64)
            self.item_grams = np.bincount(items, minlength=len(self.items))
            self.table = (np.ascontiguousarray(pairs[:, 0]), items)
        return self.table

    def _gram_text(self, pair: np.ndarray) -> str:
        """The words of one indexed gram (for the stop-list report): found again in its item's n-grams."""
        item = int(pair[1])
        g = ngrams([self.tokens[item]], self.n, self.chars)
        k = int(np.flatnonzero(g.hashes == pair[0])[0])
        return " ".join(self.tokens[item][int(g.starts[k]) : int(g.starts[k] + g.size[k])])

    def lookup(self, g: Grams) -> tuple[np.ndarray, np.ndarray]:
        """(gram, item) for every gram of ``g`` that an indexed benchmark problem has, as two arrays."""
        keys, items = self._sorted()
        lo, hi = np.searchsorted(keys, g.hashes, "left"), np.searchsorted(keys, g.hashes, "right")
        found = hi - lo
        gram = np.repeat(np.arange(len(found)), found)
        first = np.repeat(lo - np.concatenate([[0], np.cumsum(found)[:-1]]), found)
        return gram, items[first + np.arange(len(gram))]


@dataclass
class Matcher:
    """The stage's per-batch step: the row, with ``contaminated`` (benchmark names) and its best match.
    Each text field is matched on its own, so no n-gram runs from one field into the next. A row matches
    a problem when it has ``min_hits`` of the problem's distinct n-grams, or all of them for a problem of
    fewer (a short problem found whole; a short row equal to a whole problem)."""

    index: BenchmarkIndex
    fields: tuple[str, ...]
    id_field: str
    threshold: float

    def __call__(self, batch: Batch) -> StageResult:
        batch.require(dict.fromkeys(self.fields, "--text-field"))
        fields = [TextField(f, numbers=True) for f in self.fields]  # a number is matched as its text
        _, records, rejects = usable_rows(batch, self.id_field, fields, as_read=True)  # and written as read
        ix = self.index
        token_lists = [words(ix.text(as_text(r[f])), symbols=False) for r in records for f in self.fields]
        row_of = np.repeat(np.arange(len(records)), len(self.fields))
        found = [self._grams(ngrams(token_lists, ix.n, ix.chars), row_of)]
        found += [self._grams(ngrams(token_lists, k), row_of) for k in sorted(ix.short_sizes)]
        best = self._best(np.concatenate(found), token_lists)
        if ix.minhash and records:
            self._near(token_lists, row_of, best)
        counts = Counter(rows=len(batch))
        for k, record in enumerate(records):
            names = sorted(best[k].pop("benchmarks", set())) if k in best else []
            record["contaminated"] = names
            record[HITS_FIELD] = best.get(k)
            counts.update(f"hit:{n}" for n in names)
            counts["contaminated"] += bool(names)
        return StageResult(records, rejects, counts)

    def _grams(self, g: Grams, row_of: np.ndarray) -> np.ndarray:
        """(row, item, gram hash, text, start, size) of each gram of ``g`` a benchmark problem has."""
        gram, item = self.index.lookup(g)
        return np.stack(
            [row_of[g.doc[gram]], item, g.hashes[gram].view(np.int64), g.doc[gram], g.starts[gram], g.size[gram]],
            axis=1,
        ).astype(np.int64)

    def _best(self, found: np.ndarray, token_lists: list[list[str]]) -> dict[int, dict[str, Any]]:
        """Per row with a match: its best problem (most distinct n-grams in common, then index order), the
        hit count, one shared n-gram's words, and every benchmark it matches."""
        ix, out = self.index, {}
        if not len(found):
            return out
        found = found[np.lexsort((found[:, 2], found[:, 1], found[:, 0]))]
        fresh = np.ones(len(found), dtype=bool)
        fresh[1:] = (found[1:, :3] != found[:-1, :3]).any(axis=1)  # one count per distinct gram
        found = found[fresh]
        pair_start = np.flatnonzero(np.r_[True, (found[1:, :2] != found[:-1, :2]).any(axis=1)])
        hits = np.diff(np.r_[pair_start, len(found)])
        rows, items = found[pair_start, 0], found[pair_start, 1]
        enough = hits >= np.minimum(ix.min_hits, np.maximum(ix.item_grams[items], 1))
        for k in np.flatnonzero(enough)[np.lexsort((-hits[enough], rows[enough]))].tolist():
            row, item = int(rows[k]), self.index.items[int(items[k])]
            if row in out:
                out[row]["benchmarks"].add(item.benchmark)
                continue
            _, _, _, doc, at, size = found[pair_start[k]].tolist()
            out[row] = {
                "benchmark": item.benchmark,
                "item": item.id,
                "hits": int(hits[k]),
                "ngram": " ".join(token_lists[doc][at : at + size]),
                "benchmarks": {item.benchmark},
            }
        return out

    def _near(self, token_lists: list[list[str]], row_of: np.ndarray, best: dict[int, dict[str, Any]]) -> None:
        """MinHash rewordings: a row without an n-gram match gets its closest problem at or above the
        threshold as its match; every benchmark matched is named either way."""
        ix = self.index
        long = [d for d, t in enumerate(token_lists) if len(t) >= MINHASH_MIN_WORDS]
        if not long:
            return
        for d, bands in zip(long, ix.minhash_bands([token_lists[d] for d in long]).tolist()):
            candidates = {i for j, h in enumerate(bands) for i in ix.bands.get((j, h), ())}
            mine, r = ngram_set(token_lists[d], ix.minhash_n, ix.chars), int(row_of[d])
            for i in sorted(candidates):
                if (j := jaccard(mine, ix.sets[i])) < self.threshold:
                    continue
                item = ix.items[i]
                if r in best and (best[r]["hits"] or best[r]["jaccard"] >= j):
                    best[r]["benchmarks"].add(item.benchmark)
                    continue
                names = best[r]["benchmarks"] if r in best else set()
                best[r] = {"benchmark": item.benchmark, "item": item.id, "hits": 0, "ngram": None}
                best[r].update(jaccard=round(j, 4), benchmarks=names | {item.benchmark})
