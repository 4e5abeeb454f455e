"""Benchmarks as an n-gram index, and the per-row match the decontamination stage runs.

A row is contaminated when any word n-gram of its normalized text (words: runs of letters and
digits) is an n-gram of a benchmark problem; a text of fewer than n words is one n-gram, the whole
text, so it matches only a text that is the same. With MinHash on, a row is also contaminated when
it shares an LSH band with a benchmark problem and their exact n-gram Jaccard (over the dedup
stage's shorter n-grams) reaches the threshold: rewordings that keep no long n-gram.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.errors import InputError, enforce_policy
from sftkit.data.fields import TextField, usable_rows
from sftkit.data.sources import InputSpec, open_source
from sftkit.dedup.minhash import MinHasher
from sftkit.dedup.rows import FIELD_SEPARATOR
from sftkit.dedup.text import Grams, jaccard, ngram_set, ngrams, normalize, words
from sftkit.stage import StageResult

# well-known benchmarks: NAME -> ID[:CONFIG]:SPLIT:FIELD (see README)
SHORTCUTS = {
    "math500": "HuggingFaceH4/MATH-500:test:problem",
    "aime": "AI-MO/aimo-validation-aime:train:problem",
    "amc": "AI-MO/aimo-validation-amc:train:problem",
    "gsm8k": "openai/gsm8k:main:test:question",
    "gpqa-diamond": "Idavidrein/gpqa:gpqa_diamond:train:Question",
    "hle": "cais/hle:test:question",
}
HITS_FIELD = "_sftkit_contamination"  # the hits travel with the row in the part; the merge takes them out


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    input: str
    config: str | None
    split: str
    field: str

    @classmethod
    def parse(cls, text: str) -> BenchmarkSpec:
        """NAME (a shortcut), or ID_OR_PATH[[[:CONFIG]:SPLIT]:FIELD]: the last part is the field."""
        name, spec = (text, SHORTCUTS[text]) if text in SHORTCUTS else (None, text)
        parts = spec.split(":")
        if len(parts) > 4 or not all(parts):
            raise InputError(f"--benchmark {text!r}: expected a shortcut ({', '.join(SHORTCUTS)}) or "
                             "ID_OR_PATH[[[:CONFIG]:SPLIT]:FIELD]")
        where, rest = parts[0], parts[1:]
        fld = rest.pop() if rest else "problem"
        split = rest.pop() if rest else None
        config = rest.pop() if rest else None
        return cls(name or (Path(where).stem if Path(where).exists() else where), where, config, split or "", fld)

    def source_spec(self) -> InputSpec:
        """A split or config means ``datasets.load_dataset`` (a Hub id, or a local folder laid out like one)."""
        return InputSpec(self.input, self.config, self.split or "train", "hub" if self.split else "auto")


@dataclass
class Item:
    benchmark: str
    id: str
    text: str


@dataclass
class BenchmarkIndex:
    """Every benchmark problem's n-grams (and the whole text of one shorter than n words), hash -> the
    items that have it with the n-gram's text; ``pieces``: their k-grams for k < n, which a row shorter
    than n words is looked up in (its whole text inside a problem)."""

    n: int
    numbers: bool
    items: list[Item] = field(default_factory=list)
    grams: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    pieces: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    short_sizes: set[int] = field(default_factory=set)
    keys: list[np.ndarray] = field(default_factory=list)  # of grams and pieces, built at the first lookup
    identity: dict[str, Any] = field(default_factory=dict)
    minhash: MinHasher | None = None
    minhash_n: int = 3
    bands: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    sets: list[np.ndarray] = field(default_factory=list)

    def add(self, spec: BenchmarkSpec, on_bad_record: str) -> int:
        """Index one benchmark; returns its item count. A missing field is one line naming what exists."""
        source = open_source(spec.source_spec())
        ids, texts, bad = [], [], 0
        for batch in source.iter_all(4096):
            batch.require([spec.field])
            _, records, rejects = usable_rows(batch, "id", [TextField(spec.field)])
            bad += len(enforce_policy(rejects + batch.rejects, on_bad_record))
            for r in records:
                ids.append(str(r.get("unique_id") or r.get("id")))
                texts.append(normalize(r[spec.field], self.numbers))
        if not texts:
            raise InputError(f"--benchmark {spec.name}: no usable problems in field {spec.field!r}")
        if bad:
            print(f"warning: benchmark {spec.name}: {bad} items without a usable {spec.field!r} are not indexed",
                  file=sys.stderr)
        self.identity[spec.name] = {**spec.__dict__, "data": source.identity()}
        self.keys = []
        token_lists = [words(t, symbols=False) for t in texts]
        first = len(self.items)
        self.items += [Item(spec.name, i, t) for i, t in zip(ids, texts)]
        for k in range(1, self.n + 1):  # k < n: the pieces a row shorter than n words may be
            g = ngrams(token_lists, k)
            table = self.grams if k == self.n else self.pieces
            for h, d, at, size in zip(g.hashes.tolist(), g.doc.tolist(), g.starts.tolist(), g.size.tolist()):
                entry = (first + d, " ".join(token_lists[d][at:at + size]))
                if all(e[0] != entry[0] for e in table[h]):
                    table[h].append(entry)
                if size < self.n and k == self.n:  # a problem shorter than n words, matched whole
                    self.short_sizes.add(size)
        if self.minhash:  # over the dedup stage's words, symbols included
            dedup_words = [words(t) for t in texts]
            mg = ngrams(dedup_words, self.minhash_n)
            bands = self.minhash.band_hashes(self.minhash.signatures(mg.hashes, mg.offsets(len(texts))))
            for d, row in enumerate(bands.tolist()):
                for j, h in enumerate(row):
                    self.bands[(j, h)].append(first + d)
            self.sets += [ngram_set(t, self.minhash_n) for t in dedup_words]
        return len(texts)

    def lookup(self, g: Grams, short_row: np.ndarray, hits: list[dict[tuple[str, str], dict[str, Any]]]) -> None:
        """Record each n-gram of ``g`` found in the index as a hit of its document; a gram of a row
        shorter than n words (``short_row[doc]``) is looked up among the pieces."""
        if not self.keys:
            self.keys = [np.fromiter(t, dtype=np.uint64, count=len(t)) for t in (self.grams, self.pieces)]
        for table, keys, which in ((self.grams, self.keys[0], ~short_row[g.doc]),
                                   (self.pieces, self.keys[1], short_row[g.doc])):
            for k in np.flatnonzero(which & np.isin(g.hashes, keys)).tolist():
                d = int(g.doc[k])
                for item_index, text in table[int(g.hashes[k])]:
                    item = self.items[item_index]
                    hits[d].setdefault((item.benchmark, item.id), {"benchmark": item.benchmark, "item": item.id,
                                                                   "ngram": text})


@dataclass
class Matcher:
    """The stage's per-batch step: the row, with ``contaminated`` (benchmark names) and its hits."""

    index: BenchmarkIndex
    fields: tuple[str, ...]
    id_field: str
    threshold: float

    def __call__(self, batch: Batch) -> StageResult:
        batch.require(list(self.fields))
        _, records, rejects = usable_rows(batch, self.id_field, [TextField(f) for f in self.fields])
        texts = [FIELD_SEPARATOR.join(normalize(r[f], self.index.numbers) for f in self.fields) for r in records]
        token_lists = [words(t, symbols=False) for t in texts]
        hits: list[dict[tuple[str, str], dict[str, Any]]] = [{} for _ in records]
        short_row = np.array([len(t) < self.index.n for t in token_lists], dtype=bool)
        self.index.lookup(ngrams(token_lists, self.index.n), short_row, hits)
        for k in sorted(self.index.short_sizes):  # a problem shorter than n words inside a longer row
            self.index.lookup(ngrams(token_lists, k), np.zeros_like(short_row), hits)
        if self.index.minhash and records:
            self._near([words(t) for t in texts], hits)
        counts = Counter(rows=len(batch))
        for record, row_hits in zip(records, hits):
            names = sorted({h["benchmark"] for h in row_hits.values()})
            record["contaminated"] = names
            record[HITS_FIELD] = list(row_hits.values())
            counts.update(f"hit:{n}" for n in names)
            counts["contaminated"] += bool(names)
        return StageResult(records, rejects, counts)

    def _near(self, token_lists: list[list[str]], hits: list[dict]) -> None:
        ix, m = self.index, self.index.minhash
        assert m is not None
        g = ngrams(token_lists, ix.minhash_n)
        bands = m.band_hashes(m.signatures(g.hashes, g.offsets(len(token_lists))))
        for d, row in enumerate(bands.tolist()):
            candidates = {i for j, h in enumerate(row) for i in ix.bands.get((j, h), ())}
            if not candidates:
                continue
            mine = ngram_set(token_lists[d], ix.minhash_n)
            for i in sorted(candidates):
                item = ix.items[i]
                if (item.benchmark, item.id) not in hits[d] and (j := jaccard(mine, ix.sets[i])) >= self.threshold:
                    hits[d][(item.benchmark, item.id)] = {"benchmark": item.benchmark, "item": item.id,
                                                          "ngram": None, "jaccard": round(j, 4)}
