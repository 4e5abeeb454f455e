"""Benchmarks as an n-gram index, and the per-row match the decontamination stage runs.

Each text field of a row is matched on its own (words: runs of letters and digits). A text of at
least n words is contaminated when any of its word n-grams is an n-gram of a benchmark problem. A
text shorter than n words is one gram, its whole text: it matches only a benchmark problem that is
the same text. A benchmark problem shorter than n words is one gram too, found whole inside a longer
text. With MinHash on, a text of at least 16 words is also contaminated when it shares an LSH band
with a benchmark problem and their exact Jaccard over word 2-grams reaches the threshold (0.4 by
default): rewordings that keep no long n-gram.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.data.sources import InputSpec, open_source
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
    to build, a binary search per row gram."""

    n: int
    numbers: bool
    items: list[Item] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)  # (grams, 2) uint64: hash, item
    short_sizes: set[int] = field(default_factory=set)
    table: tuple[np.ndarray, np.ndarray] | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    minhash: MinHasher | None = None
    minhash_n: int = MINHASH_NGRAM
    bands: dict[tuple[int, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    sets: list[np.ndarray] = field(default_factory=list)

    def add(self, spec: BenchmarkSpec, on_bad_record: str) -> int:
        """Index one benchmark; returns its item count. A missing field is one line naming what exists."""
        source = open_source(spec.source_spec(), "--benchmark", spec.offline_arg())
        ids, texts, bad = [], [], 0
        for batch in source.iter_all(4096):
            batch.require({spec.field: "the field of --benchmark SPEC:CONFIG:SPLIT:FIELD"})
            _, records, rejects = usable_rows(batch, "id", [TextField(spec.field)])
            bad += len(enforce_policy(rejects + batch.rejects, on_bad_record))
            for r in records:
                ids.append(str(r.get("unique_id") or r.get("id")))
                texts.append(normalize(r[spec.field], self.numbers))
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
        g = ngrams(token_lists, self.n)
        self.blocks.append(np.stack([g.hashes, (g.doc + first).astype(np.uint64)], axis=1))
        self.short_sizes.update(g.size[g.size < self.n].tolist())  # problems matched whole inside a row
        self.table = None
        if self.minhash:
            self.sets += [ngram_set(t, self.minhash_n) for t in token_lists]
            worded = [d for d, t in enumerate(token_lists) if t]  # a problem of symbols only has no signature
            for d, row in zip(worded, self.minhash_bands([token_lists[d] for d in worded]).tolist()):
                for j, h in enumerate(row):
                    self.bands[(j, h)].append(first + d)
        return len(texts)

    def minhash_bands(self, token_lists: list[list[str]]) -> np.ndarray:
        """(texts, bands) LSH band hashes of texts that each have at least one word."""
        assert self.minhash is not None
        g = ngrams(token_lists, self.minhash_n)
        return self.minhash.band_hashes(self.minhash.signatures(g.hashes, g.offsets(len(token_lists))))

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.table is None:
            pairs = np.concatenate(self.blocks)  # items ascending, so a stable sort by hash keeps them so
            pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
            fresh = np.ones(len(pairs), dtype=bool)
            fresh[1:] = (pairs[1:] != pairs[:-1]).any(axis=1)  # a gram repeated within one problem: once
            self.table = (np.ascontiguousarray(pairs[fresh, 0]), pairs[fresh, 1].astype(np.int64))
        return self.table

    def lookup(
        self,
        g: Grams,
        token_lists: list[list[str]],
        row_of: np.ndarray,
        hits: list[dict[tuple[str, str], dict[str, Any]]],
    ) -> None:
        """Record each gram of ``g`` (over the texts ``token_lists``, text d of row ``row_of[d]``) that a
        benchmark problem has as a hit of its row, with the gram's words."""
        keys, items = self._sorted()
        lo, hi = np.searchsorted(keys, g.hashes, "left"), np.searchsorted(keys, g.hashes, "right")
        for k in np.flatnonzero(hi > lo).tolist():
            d, at = int(g.doc[k]), int(g.starts[k])
            text = " ".join(token_lists[d][at : at + int(g.size[k])])
            for item_index in items[lo[k] : hi[k]].tolist():
                item = self.items[item_index]
                hits[row_of[d]].setdefault(
                    (item.benchmark, item.id), {"benchmark": item.benchmark, "item": item.id, "ngram": text}
                )


@dataclass
class Matcher:
    """The stage's per-batch step: the row, with ``contaminated`` (benchmark names) and its hits. Each
    text field is matched on its own, so no n-gram runs from one field into the next."""

    index: BenchmarkIndex
    fields: tuple[str, ...]
    id_field: str
    threshold: float

    def __call__(self, batch: Batch) -> StageResult:
        batch.require(dict.fromkeys(self.fields, "--text-field"))
        _, records, rejects = usable_rows(batch, self.id_field, [TextField(f) for f in self.fields])
        token_lists = [words(normalize(r[f], self.index.numbers), symbols=False) for r in records for f in self.fields]
        row_of = np.repeat(np.arange(len(records)), len(self.fields))
        hits: list[dict[tuple[str, str], dict[str, Any]]] = [{} for _ in records]
        for k in sorted({self.index.n} | self.index.short_sizes):  # n-grams; short problems inside a text
            self.index.lookup(ngrams(token_lists, k), token_lists, row_of, hits)
        if self.index.minhash and records:
            self._near(token_lists, row_of, hits)
        counts = Counter(rows=len(batch))
        for record, row_hits in zip(records, hits):
            names = sorted({h["benchmark"] for h in row_hits.values()})
            record["contaminated"] = names
            record[HITS_FIELD] = list(row_hits.values())
            counts.update(f"hit:{n}" for n in names)
            counts["contaminated"] += bool(names)
        return StageResult(records, rejects, counts)

    def _near(self, token_lists: list[list[str]], row_of: np.ndarray, hits: list[dict]) -> None:
        ix = self.index
        long = [d for d, t in enumerate(token_lists) if len(t) >= MINHASH_MIN_WORDS]
        if not long:
            return
        for d, row in zip(long, ix.minhash_bands([token_lists[d] for d in long]).tolist()):
            candidates = {i for j, h in enumerate(row) for i in ix.bands.get((j, h), ())}
            if not candidates:
                continue
            mine, found = ngram_set(token_lists[d], ix.minhash_n), hits[row_of[d]]
            for i in sorted(candidates):
                item = ix.items[i]
                if (item.benchmark, item.id) not in found and (j := jaccard(mine, ix.sets[i])) >= self.threshold:
                    found[(item.benchmark, item.id)] = {
                        "benchmark": item.benchmark,
                        "item": item.id,
                        "ngram": None,
                        "jaccard": round(j, 4),
                    }
