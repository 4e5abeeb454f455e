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
from sftkit.data.errors import InputError

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
            return _write_parquet(tmp, lines)
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


def _write_parquet(path: Path, lines: Callable[[], Iterable[bytes]]) -> int:
    schema = None
    for chunk in _chunks(lines()):
        part = pa.Table.from_pylist(chunk).schema
        try:
            schema = part if schema is None else pa.unify_schemas([schema, part], promote_options="permissive")
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            raise InputError(f"{path.name}: records disagree on a column type ({exc})") from exc
    count = 0
    with pq.ParquetWriter(path, schema or pa.schema([]), compression="zstd") as writer:
        for chunk in _chunks(lines()):
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
            count += len(chunk)
    return count
