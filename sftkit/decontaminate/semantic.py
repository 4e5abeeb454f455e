"""Paraphrase decontamination: a row is contaminated when the cosine of its embedding with a benchmark
problem's reaches the threshold. The benchmark problems are embedded once per run (a few thousand texts),
each row's text field on its own (or its --embeddings-field vector), and the nearest problem is found by
one matrix product; its id and cosine go to the contamination file beside the n-gram hits."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.data.sources import open_source
from sftkit.decontaminate.index import HITS_FIELD, BenchmarkSpec, Matcher
from sftkit.errors import InputError, enforce_policy
from sftkit.runner.stage import StageResult
from sftkit.semdedup.embed import Embedder, field_vectors

SEMANTIC_THRESHOLD = 0.9  # cosine; docs/stages/decontaminate.md: pick it on your embedder's paraphrases


@dataclass
class SemanticIndex:
    """Every benchmark problem's unit vector (float16 rows) with its benchmark and id."""

    embedder: Embedder
    vectors: np.ndarray
    items: list[tuple[str, str]]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def build_semantic_index(texts: list[str], embedder: Embedder, on_bad_record: str) -> SemanticIndex:
    """Read each --benchmark (as the n-gram index does) and embed its problems, or read their vectors."""
    blocks, items, dim = [], [], None
    for text in texts:
        spec = BenchmarkSpec.parse(text)
        source = open_source(spec.source_spec(), "--benchmark", spec.offline_arg())
        bad = 0
        for batch in source.iter_all(4096):
            if embedder.field:
                _, records, vectors, rejects = field_vectors(batch, "id", embedder.field, dim)
            else:
                batch.require({spec.field: "the field of --benchmark SPEC:CONFIG:SPLIT:FIELD"})
                _, records, rejects = usable_rows(batch, "id", [TextField(spec.field)])
                vectors = embedder.embed_texts([r[spec.field] for r in records])
            bad += len(enforce_policy(rejects + batch.rejects, on_bad_record))
            if records:
                dim = vectors.shape[1]
                blocks.append(vectors)
                items += [(spec.name, str(r.get("unique_id") or r.get("id"))) for r in records]
        if bad:
            print(
                f"warning: benchmark {spec.name}: {bad} items without a usable vector are not indexed", file=sys.stderr
            )
    if not items:
        raise InputError("--semantic: no benchmark problem has a usable text or vector")
    return SemanticIndex(embedder, np.concatenate(blocks), items)


@dataclass
class SemanticMatcher:
    """The n-gram ``Matcher``, then each row's nearest benchmark problem by cosine: a hit at or above
    ``threshold`` adds its benchmark to ``contaminated`` and ``{benchmark, item, cosine}`` to the row's hits."""

    ngram: Matcher
    index: SemanticIndex
    threshold: float

    def __call__(self, batch: Batch) -> StageResult:
        result = self.ngram(batch)
        records, rejects = result.records, result.rejects
        if self.index.embedder.field:
            records, vectors, rejects = self._field_rows(batch, records, rejects)
            best, cos = self._nearest(vectors)
        else:
            fields = self.ngram.fields
            vectors = self.index.embedder.embed_texts([r[f] for r in records for f in fields])
            best, cos = self._nearest(vectors)
            per_row = cos.reshape(len(records), len(fields)) if records else cos.reshape(0, len(fields))
            pick = per_row.argmax(axis=1)  # the field nearest a benchmark problem
            at = np.arange(len(records)) * len(fields) + pick
            best, cos = best[at], cos[at]
        counts = Counter(result.counts)
        for record, i, c in zip(records, best.tolist(), cos.tolist()):
            if c < self.threshold:
                continue
            benchmark, item = self.index.items[i]
            before = record["contaminated"]
            same = [h for h in record[HITS_FIELD] if h["benchmark"] == benchmark and h["item"] == item]
            if same:  # an n-gram hit of the same item: it gets the cosine too
                same[0]["cosine"] = round(c, 4)
            else:
                record[HITS_FIELD].append({"benchmark": benchmark, "item": item, "ngram": None, "cosine": round(c, 4)})
            if benchmark not in before:
                record["contaminated"] = sorted({*before, benchmark})
                counts[f"hit:{benchmark}"] += 1
                counts["contaminated"] += not before
        return StageResult(records, rejects, counts)

    def _field_rows(
        self, batch: Batch, records: list[dict[str, Any]], rejects: list
    ) -> tuple[list[dict[str, Any]], np.ndarray, list]:
        """The n-gram matcher's rows that also have a usable vector (of the benchmark's dimension), their
        vectors, and the rows without one added to the rejects."""
        positions, _, vectors, bad = field_vectors(
            batch, self.ngram.id_field, self.index.embedder.field, self.index.dim
        )
        usable = {int(batch.indices[p]): k for k, p in enumerate(positions)}
        rejected = {r.index for r in rejects}
        text_rows = [int(i) for i in batch.indices if int(i) not in rejected]  # the n-gram matcher's rows, in order
        keep = [k for k, i in enumerate(text_rows) if i in usable]
        rows = [usable[text_rows[k]] for k in keep]
        more = [r for r in bad if r.index not in rejected]
        return [records[k] for k in keep], vectors[rows] if rows else vectors[:0], rejects + more

    def _nearest(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each vector's nearest benchmark problem (the first of equals) and their cosine."""
        if not len(vectors):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        sims = vectors.astype(np.float32) @ self.index.vectors.astype(np.float32).T
        best = sims.argmax(axis=1)
        return best, sims[np.arange(len(sims)), best]
