"""Local JSONL, JSON and Parquet files read as one row sequence, in batches over any row range.

Parquet reads only the row groups a range overlaps; JSONL is read line by line, with malformed lines
kept as rejects that name their file and line; a JSON file is one array of records.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftkit.data.batch import UNBOUNDED, Batch
from sftkit.data.hashing import file_sha256
from sftkit.errors import InputError, Reject

FILE_FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


def id_prefixes(files: list[str]) -> dict[str, str]:
    """Each file's path below the files' common folder, without its format suffix unless another file
    differs only in that suffix (``a.json`` and ``a.jsonl`` keep theirs): unique per file."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    full = {f: Path(os.path.relpath(os.path.abspath(f), root)).as_posix() for f in files}
    short = {f: rel[: -len(Path(rel).suffix)] if Path(rel).suffix in FILE_FORMATS else rel for f, rel in full.items()}
    taken = Counter(short.values())
    return {f: short[f] if taken[short[f]] == 1 else full[f] for f in files}


def _first_line(path: str) -> bytes:
    with open(path, "rb") as fh:
        for raw in fh:
            if raw.strip():
                return raw.strip()
    return b""


def _check_layout(path: str, fmt: str) -> None:
    """A JSON array read as JSON lines would make every line a bad row, and JSON lines read as an array fail
    as "not valid JSON": both are the wrong --input-format, said before any row is read."""
    if fmt == "jsonl" and _first_line(path).startswith(b"["):
        raise InputError(f"{path}: holds a JSON array, not one JSON object per line; pass --input-format json")
    if fmt == "json" and _first_line(path).startswith(b"{"):
        try:
            orjson.loads(_first_line(path))  # a whole object on the first line: a JSON-lines file
        except orjson.JSONDecodeError:
            return  # a pretty-printed object: its error comes when the file is read
        raise InputError(
            f"{path}: holds one JSON object per line (JSON lines), not a JSON array; pass --input-format jsonl"
        )


class FileSource:
    """Local files read in sorted order as one row sequence."""

    def __init__(self, name: str, files: list[tuple[str, str]]) -> None:
        self.name = name
        self.files = files
        for path, fmt in files:
            _check_layout(path, fmt)
        self.id_prefix = id_prefixes([path for path, _ in files])
        self._json_cache: dict[str, list[Any]] = {}

    @cached_property
    def _offsets(self) -> list[int]:
        offsets = [0]
        for path, fmt in self.files:
            offsets.append(offsets[-1] + self._count(path, fmt))
        return offsets

    def num_rows(self) -> int:
        return self._offsets[-1]

    @cache  # noqa: B019 - one source per run; a multi-pass stage asks once per pass
    def identity(self) -> dict[str, Any]:
        """What the rows are, for the resume fingerprint: the row count and each file's content hash
        (a file replaced at the same path is new input)."""
        return {"rows": self.num_rows(), "sha256": {path: file_sha256(Path(path)) for path, _ in self.files}}

    def _count(self, path: str, fmt: str) -> int:
        if fmt == "parquet":
            return parquet_file(path).metadata.num_rows
        if fmt == "jsonl":
            with open(path, "rb") as fh:
                return sum(1 for line in fh if line.strip())
        return len(self._json_array(path))

    def _json_array(self, path: str) -> list[Any]:
        if path not in self._json_cache:
            try:
                data = orjson.loads(Path(path).read_bytes())
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}: not valid JSON ({exc})") from exc
            if not isinstance(data, list):
                raise InputError(f"{path}: expected a JSON array of records, got {type(data).__name__}")
            self._json_cache[path] = data
        return self._json_cache[path]

    def iter_all(self, batch_size: int) -> Iterator[Batch]:
        """Every row in one pass, without counting rows first (a JSONL count is a full extra read)."""
        offset = 0
        for path, fmt in self.files:
            end = offset
            for batch in self._reader(fmt)(path, offset, 0, UNBOUNDED, batch_size):
                end = batch.stop
                batch.id_prefix = self.id_prefix[path]
                yield batch
            offset = end

    def _reader(self, fmt: str) -> Callable[[str, int, int, int, int], Iterator[Batch]]:
        return {"parquet": _parquet_batches, "jsonl": _jsonl_batches, "json": self._json_batches}[fmt]

    def batches(self, start: int, stop: int, batch_size: int) -> Iterator[Batch]:
        offsets = self._offsets
        for (path, fmt), lo, hi in zip(self.files, offsets, offsets[1:]):
            a, b = max(start, lo), min(stop, hi)
            if a >= b:
                continue
            for batch in self._reader(fmt)(path, lo, a - lo, b - lo, batch_size):
                batch.id_prefix = self.id_prefix[path]
                yield batch

    def _json_batches(self, path: str, offset: int, a: int, b: int, batch_size: int) -> Iterator[Batch]:
        data = self._json_array(path)
        b = min(b, len(data))
        for s in range(a, b, batch_size):
            e = min(b, s + batch_size)
            rows, idx, rejects = [], [], []
            for k in range(s, e):
                item = data[k]
                if isinstance(item, dict):
                    rows.append(item)
                    idx.append(offset + k)
                else:
                    loc = f"{path}: element {k}"
                    rejects.append(Reject(offset + k, loc, "array element is not a JSON object", item))
            yield Batch(offset + s, offset + e, path, offset, np.array(idx, dtype=np.int64), rows=rows, rejects=rejects)


@contextmanager
def reading_parquet(path: str | Path) -> Iterator[None]:
    """pyarrow names no file when one is corrupt or truncated ('Parquet magic bytes not found'): we do."""
    try:
        yield
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"{path}: not a readable Parquet file, corrupt or truncated ({' '.join(str(exc).split())})"
        ) from None


def parquet_file(path: str | Path) -> pq.ParquetFile:
    with reading_parquet(path):
        return pq.ParquetFile(path)


def _parquet_batches(path: str, offset: int, a: int, b: int, batch_size: int) -> Iterator[Batch]:
    """Rows [a, b) of one Parquet file, reading only the row groups that overlap them."""
    pf = parquet_file(path)
    groups, first, pos = [], None, 0
    for g in range(pf.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if pos + n > a and pos < b:
            groups.append(g)
            first = pos if first is None else first
        pos += n
    if not groups:
        return
    pos = first
    with reading_parquet(path):  # a page corrupt past the footer fails while reading
        for rb in pf.iter_batches(batch_size=batch_size, row_groups=groups):
            lo, hi = max(a, pos), min(b, pos + rb.num_rows)
            if lo < hi:
                table = rb.slice(lo - pos, hi - lo)
                yield Batch(
                    offset + lo,
                    offset + hi,
                    path,
                    offset,
                    np.arange(offset + lo, offset + hi, dtype=np.int64),
                    table=pa.Table.from_batches([table]),
                )
            pos += rb.num_rows
            if pos >= b:
                return


def _jsonl_batches(path: str, offset: int, a: int, b: int, batch_size: int) -> Iterator[Batch]:
    """Records [a, b) of a JSONL file; blank lines are not records, malformed ones become rejects."""
    k = 0
    batch_start = a
    rows: list[dict[str, Any]] = []
    idx: list[int] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            if k >= b:
                break
            if k >= a:
                try:
                    rec = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    rec, why = None, f"malformed JSON ({exc})"
                else:
                    why = None if isinstance(rec, dict) else "line is not a JSON object"
                if why is None:
                    rows.append(rec)
                    idx.append(offset + k)
                    lines.append(lineno)
                else:
                    text = raw.decode("utf-8", "replace").rstrip("\n")
                    rejects.append(Reject(offset + k, f"{path}:{lineno}", why, text))
                if k + 1 - batch_start >= batch_size:
                    yield Batch(
                        offset + batch_start,
                        offset + k + 1,
                        path,
                        offset,
                        np.array(idx, dtype=np.int64),
                        rows=rows,
                        lines=lines,
                        rejects=rejects,
                    )
                    batch_start, rows, idx, lines, rejects = k + 1, [], [], [], []
            k += 1
    if batch_start < min(k, b):
        yield Batch(
            offset + batch_start,
            offset + min(k, b),
            path,
            offset,
            np.array(idx, dtype=np.int64),
            rows=rows,
            lines=lines,
            rejects=rejects,
        )
