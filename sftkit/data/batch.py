"""A batch: consecutive rows of one source file, Arrow-backed or JSON-backed behind one interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sftkit.errors import InputError, Reject

UNBOUNDED = 2**62  # a stop row past any source's end: batches(start, UNBOUNDED) reads to the end


@dataclass
class Batch:
    """Rows ``[start, stop)`` of the global row order. Valid rows plus rejects cover the range exactly.

    Exactly one of ``table`` (Parquet, Hub datasets) or ``rows`` (JSON, JSONL, streaming) is set.
    ``lines`` holds 1-based line numbers for JSONL so errors can point at them.
    """

    start: int
    stop: int
    file: str
    file_offset: int
    indices: np.ndarray
    table: pa.Table | None = None
    rows: list[dict[str, Any]] | None = None
    lines: list[int] | None = None
    rejects: list[Reject] = field(default_factory=list)
    id_prefix: str | None = None  # set by sources that know a name unique across the input

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def stem(self) -> str:
        if self.id_prefix is not None:
            return self.id_prefix
        name = self.file.rstrip("/").rsplit("/", 1)[-1]
        return name.split(".", 1)[0] or name

    def location(self, pos: int) -> str:
        if self.lines is not None:
            return f"{self.file}:{self.lines[pos]}"
        return f"{self.file}: row {int(self.indices[pos]) - self.file_offset}"

    def field_names(self) -> list[str]:
        if self.table is not None:
            return list(self.table.column_names)
        names: dict[str, None] = {}
        for row in self.rows or []:
            names.update(dict.fromkeys(row))
        return list(names)

    def require(self, fields: dict[str, str]) -> None:
        """A field no row of the batch has is a mapping mistake, not a bad row: say what exists, and which flag
        names the field (``fields`` maps each field to that flag)."""
        present = self.field_names()
        missing = {name: flag for name, flag in fields.items() if name not in present}
        if missing and len(self):
            flags = "/".join(dict.fromkeys(missing.values()))
            raise InputError(
                f"{self.file}: no field {', '.join(map(repr, missing))}; the data has fields: "
                f"{', '.join(present)}. Name yours with {flags}."
            )

    def values(self, name: str) -> list[Any]:
        if self.table is not None:
            if name not in self.table.column_names:
                return [None] * len(self)
            return self.table.column(name).to_pylist()
        return [row.get(name) for row in self.rows or []]

    def char_lengths(self, name: str) -> np.ndarray:
        """Length in characters of a text field; -1 marks a value that is missing, empty or not text."""
        if self.table is not None and name in self.table.column_names:
            col = self.table.column(name)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                lengths = pc.fill_null(pc.utf8_length(col), 0).to_numpy().astype(np.int64)
                lengths[lengths == 0] = -1
                return lengths
        return np.array([len(v) if isinstance(v, str) and v else -1 for v in self.values(name)], dtype=np.int64)

    def select(self, positions: np.ndarray) -> Batch:
        """The rows at ``positions``; the result keeps locations but no rejects."""
        positions = np.asarray(positions, dtype=np.int64)
        return Batch(
            start=self.start,
            stop=self.stop,
            file=self.file,
            file_offset=self.file_offset,
            indices=self.indices[positions],
            table=self.table.take(pa.array(positions)) if self.table is not None else None,
            rows=[self.rows[p] for p in positions] if self.rows is not None else None,
            lines=[self.lines[p] for p in positions] if self.lines is not None else None,
            id_prefix=self.id_prefix,
        )

    def rows_between(self, lo: int, hi: int) -> Batch:
        """The part of the batch covering global rows ``[lo, hi)``, with its rejects."""
        cut = self.select(np.flatnonzero((self.indices >= lo) & (self.indices < hi)))
        cut.start, cut.stop = max(lo, self.start), min(hi, self.stop)
        cut.rejects = [r for r in self.rejects if lo <= r.index < hi]
        return cut

    def records(self, id_field: str) -> list[dict[str, Any]]:
        """Rows as dicts. A row without an id gets ``<file>-<row in file>``, stable across reruns; ``<file>``
        is the path below the input folder without its extension, so ``cot/train.jsonl`` and
        ``tir/train.jsonl`` (or ``data.v1.jsonl`` and ``data.v2.jsonl``) never share an id."""
        out = self.table.to_pylist() if self.table is not None else [dict(r) for r in self.rows or []]
        stem = self.stem
        for rec, idx in zip(out, self.indices.tolist()):
            if rec.get(id_field) is None:
                rec[id_field] = f"{stem}-{idx - self.file_offset}"
        return out
