"""Embedding vectors of rows: from a model (vLLM's pooling runner, sentence-transformers, or a model2vec
static model for CPU-only users) or from a field of precomputed vectors. Always L2-normalised float16:
the form the semdedup parts keep (2 bytes a dimension) and the semantic decontamination compares."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.errors import InputError, Reject

BACKENDS = ("vllm", "sentence-transformers", "model2vec")
TEXT_SEPARATOR = "\n\n"  # between the text fields of a row, as a reader sees them


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Unit rows as float16 (computed in float32; a zero row stays zero and is refused before this)."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float16)


@dataclass
class Embedder:
    """Where vectors come from: ``field`` (precomputed, one list of numbers per row) or ``model`` run by
    ``backend``. The model loads at the first call, so a bad flag fails before it (minutes on a GPU)."""

    backend: str | None = None
    model: str | None = None
    field: str | None = None
    batch_size: int = 256
    _loaded: Any = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_args(cls, model: str | None, backend: str | None, embeddings_field: str | None) -> Embedder:
        if model and embeddings_field:
            raise InputError("give --embedding-model or --embeddings-field, not both")
        if not model and not embeddings_field:
            raise InputError("give --embedding-model (run by --embedding-backend) or --embeddings-field")
        if model:
            backend = backend or "sentence-transformers"
            if backend not in BACKENDS:
                raise InputError(f"--embedding-backend {backend!r}: expected one of {', '.join(BACKENDS)}")
            return cls(backend, model)
        return cls(field=embeddings_field)

    @property
    def identity(self) -> dict[str, Any]:
        """What changes the vectors: part of a shard's fingerprint."""
        return {"backend": self.backend, "model": self.model, "field": self.field}

    def _load(self) -> Any:
        if self._loaded is None:
            if self.backend == "sentence-transformers":
                from sentence_transformers import SentenceTransformer

                self._loaded = SentenceTransformer(self.model, device=None)
            elif self.backend == "model2vec":
                from model2vec import StaticModel

                self._loaded = StaticModel.from_pretrained(self.model)
            else:
                self._loaded = _vllm_pooling(self.model)
        return self._loaded

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) unit float16 vectors of texts, by the model."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float16)
        model = self._load()
        if self.backend == "vllm":
            vectors = [o.outputs.embedding for o in model.embed(texts, use_tqdm=False)]
        elif self.backend == "sentence-transformers":
            vectors = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        else:
            vectors = model.encode(texts, batch_size=self.batch_size)
        return normalized(np.asarray(vectors, dtype=np.float32))

    def dimension(self) -> int:
        """The model's vector length (one short text embedded): the shape of a batch without usable rows."""
        return self.embed_texts(["dimension"]).shape[1]

    def rows(
        self, batch: Batch, id_field: str, text_fields: tuple[str, ...], dim: int | None
    ) -> tuple[list[dict[str, Any]], np.ndarray, list[Reject]]:
        """The usable rows of ``batch``, their unit vectors, and the rest as rejects naming line and field.
        With a field, ``dim`` (the dimension met first, None before any) makes a row of another length a
        reject: a ragged field is bad input, never silently padded."""
        if self.field:
            batch.require({self.field: "--embeddings-field"})
            return field_vectors(batch, id_field, self.field, dim)[1:]
        batch.require(dict.fromkeys(text_fields, "--text-field"))
        positions, records, rejects = usable_rows(batch, id_field, [TextField(f) for f in text_fields])
        vectors = self.embed_texts([TEXT_SEPARATOR.join(r[f] for f in text_fields) for r in records])
        zero = ~vectors.any(axis=1) if len(records) else np.zeros(0, dtype=bool)
        for k in np.flatnonzero(zero).tolist():  # e.g. a static model that knows none of the row's tokens
            why = f"the embedding model gave a zero vector for {', '.join(text_fields)} (no direction to compare)"
            rejects.append(Reject(int(batch.indices[positions[k]]), batch.location(positions[k]), why, records[k]))
        return [r for r, z in zip(records, zero.tolist()) if not z], vectors[~zero], rejects


def vector_problem(value: Any, name: str, dim: int | None) -> str | None:
    """Why ``value`` is no usable vector, or None."""
    if not isinstance(value, list | tuple | np.ndarray) or not len(value):
        return f"field {name!r} is {type(value).__name__ if value is not None else 'null'}, not a list of numbers"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return f"field {name!r} holds something other than finite numbers"
    if dim is not None and len(value) != dim:
        return f"field {name!r} has {len(value)} numbers, the rows before it {dim} (ragged vectors)"
    if not any(value):
        return f"field {name!r} is a zero vector (no direction to compare)"
    return None


def field_vectors(
    batch: Batch, id_field: str, name: str, dim: int | None
) -> tuple[list[int], list[dict[str, Any]], np.ndarray, list[Reject]]:
    """Positions and records of the rows whose field ``name`` is a usable vector (of ``dim`` numbers, or the
    first row's), their unit vectors, and the other rows as rejects."""
    positions, records, vectors, rejects = [], [], [], []
    for pos, record in enumerate(batch.records(id_field)):
        value = record.get(name)
        why = (
            f"field {name!r} is missing (the row has: {', '.join(map(str, list(record)[:12]))})"
            if name not in record
            else vector_problem(value, name, dim)
        )
        if why:
            rejects.append(Reject(int(batch.indices[pos]), batch.location(pos), why, record))
            continue
        dim = len(value)
        positions.append(pos)
        vectors.append(value)
        records.append(record)
    array = normalized(np.asarray(vectors, dtype=np.float32)) if vectors else np.zeros((0, dim or 0), np.float16)
    return positions, records, array, rejects


def _vllm_pooling(model: str) -> Any:
    """vLLM's offline engine in pooling mode (an embedding model: last-token or mean pooling, as its config says)."""
    from vllm import LLM
    from vllm.platforms import current_platform

    from sftkit.engines.hub import require_model, require_weights
    from sftkit.engines.vllm_offline import cpu_kv_cache

    require_model(model)  # before vLLM starts, whose engine-core failure would hide the cause
    require_weights(model)
    if current_platform.is_cpu():
        cpu_kv_cache()
    return LLM(model=model, runner="pooling", seed=0, enforce_eager=True)
