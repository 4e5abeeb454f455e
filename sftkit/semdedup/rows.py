"""What the semdedup stage computes per shard: each usable row's unit float16 vector (and its --keep-by key),
kept beside the shard's part for the merge."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.sources import Source
from sftkit.dedup.rows import KeepBy
from sftkit.errors import InputError
from sftkit.runner.stage import StageResult
from sftkit.semdedup.embed import Embedder, vector_problem

_PEEK = 100  # rows read to find the vectors' dimension


def field_dimension(source: Source, name: str) -> int:
    """The dimension of the first usable vector of field ``name`` in the input's first rows: every shard
    measures the same row, so a ragged field is refused the same way whatever the sharding."""
    for batch in source.batches(0, min(source.num_rows(), _PEEK), _PEEK):
        batch.require({name: "--embeddings-field"})
        for record in batch.records("id"):
            if vector_problem(record.get(name), name, None) is None:
                return len(record[name])
    raise InputError(
        f"--embeddings-field {name!r}: no usable vector (a list of numbers) in the input's first {_PEEK} rows"
    )


@dataclass
class RowEmbedder:
    """The shard step: rows with a usable vector (from the model or the field), their vectors in the part's
    ``embedding`` array, and the --keep-by key in ``keep_by``; other rows are rejects naming line and field."""

    embedder: Embedder
    text_fields: tuple[str, ...]
    keep_by: KeepBy | None
    id_field: str
    dim: int | None = None

    def __call__(self, batch: Batch) -> StageResult:
        records, vectors, rejects = self.embedder.rows(batch, self.id_field, self.text_fields, self.dim)
        if not records:
            vectors = np.zeros((0, self.dim or self.embedder.dimension()), dtype=np.float16)
        arrays = {"embedding": vectors}
        if self.keep_by:
            arrays["keep_by"] = self.keep_by.ranks(records)
        return StageResult(records, rejects, Counter(rows=len(batch)), arrays=arrays)
