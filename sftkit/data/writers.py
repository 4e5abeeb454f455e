"""Write a record stream as .jsonl, .json (array) or .parquet, chosen by the output's extension.

Records travel as JSONL lines (bytes): parts are already JSONL, so a merge copies bytes and
never re-encodes them, and every format is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftkit.data.atomic import atomic_path
from sftkit.errors import InputError

OUTPUT_SUFFIXES = (".jsonl", ".json", ".parquet")
_PARQUET_CHUNK = 20_000


def output_format(path: str | Path) -> str:
    suffix = Path(path).suffix
    if suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {path}: the extension must be one of {', '.join(OUTPUT_SUFFIXES)}")
    return suffix[1:]


def write_lines(path: str | Path, lines: Callable[[], Iterable[bytes]]) -> int:
    """Write JSONL ``lines`` to ``path`` in the format its extension names; returns the record count.

    ``lines`` is a factory because Parquet needs two passes: one to agree on a schema for all
    records, one to write them.
    """
    fmt = output_format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            return _write_parquet(tmp, lines, Path(path))
        with open(tmp, "wb") as out:
            if fmt == "jsonl":
                count = 0
                for line in lines():
                    out.write(line)
                    count += 1
                return count
            return _write_json_array(out, lines())


def _write_json_array(out: BinaryIO, lines: Iterable[bytes]) -> int:
    count = 0
    out.write(b"[")
    for line in lines:
        out.write(b"\n" if count == 0 else b",\n")
        out.write(line.rstrip(b"\n"))
        count += 1
    out.write(b"\n]\n")
    return count


def _chunks(lines: Iterable[bytes]) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for line in lines:
        chunk.append(orjson.loads(line))
        if len(chunk) >= _PARQUET_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _kind(value: object) -> str:
    """The JSON kind of a value as Parquet sees it: ints and floats share a numeric column."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "text", list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _leaves(record: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(dotted field name, value) of every non-null value, inside nested objects too."""
    for name, value in record.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{name}.")
        elif value is not None:
            yield f"{prefix}{name}", value


def _conflict(records: list[dict], shown: Path, exc: Exception) -> InputError:
    """Name the field and the first two records that disagree on its type, not Arrow's bare message."""
    first: dict[str, tuple[str, int]] = {}
    for n, rec in enumerate(records, 1):
        for name, value in _leaves(rec):
            kind = _kind(value)
            seen = first.setdefault(name, (kind, n))
            if seen[0] != kind:
                return InputError(
                    f"{shown}: field {name!r} is {seen[0]} in record {seen[1]:,} ({_short(records[seen[1] - 1])}) "
                    f"and {kind} in record {n:,} ({_short(rec)}); Parquet needs one type per column: "
                    "fix the input or write .jsonl"
                )
    return InputError(f"{shown}: records disagree on a column type ({exc})")


def _short(record: dict) -> str:
    text = orjson.dumps(record).decode()
    return text if len(text) <= 120 else text[:117] + "..."


def _compatible(a: pa.Field, b: pa.Field) -> bool:
    try:
        pa.unify_schemas([pa.schema([a]), pa.schema([b])], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return False
    return True


def _table(chunk: list[dict], shown: Path, schema: pa.Schema | None = None) -> pa.Table:
    try:
        return pa.Table.from_pylist(chunk, schema=schema)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise _conflict(chunk, shown, exc) from exc


def _write_parquet(path: Path, lines: Callable[[], Iterable[bytes]], shown: Path) -> int:
    schema, seen = None, 0
    for chunk in _chunks(lines()):
        part = _table(chunk, shown).schema
        try:
            schema = part if schema is None else pa.unify_schemas([schema, part], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            names = [f.name for f in part if f.name in schema.names and not _compatible(schema.field(f.name), f)]
            raise InputError(
                f"{shown}: field {', '.join(map(repr, names)) or '?'} is "
                f"{', '.join(str(schema.field(n).type) for n in names)} in records 1-{seen:,} and "
                f"{', '.join(str(part.field(n).type) for n in names)} in records {seen + 1:,}-"
                f"{seen + len(chunk):,}; Parquet needs one type per column: fix the input or write "
                f".jsonl ({exc})"
            ) from exc
        seen += len(chunk)
    count = 0
    with pq.ParquetWriter(path, schema or pa.schema([]), compression="zstd") as writer:
        for chunk in _chunks(lines()):
            writer.write_table(_table(chunk, shown, schema))
            count += len(chunk)
    return count
