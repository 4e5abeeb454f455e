"""JSON, JSONL and Parquet files as Arrow tables, streamed in blocks, with errors that name the exact line.

pyarrow's JSON reader is fast but counts rows of its own internal blocks and reads "2021-03-04" as a
timestamp; this keeps its speed and undoes both: a bad line is found and named as ``file:line``, and a
string stays a string.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from sftkit.data.files import reading_parquet
from sftkit.errors import InputError

BLOCK_BYTES = 64 << 20


def _line_blocks(path: Path) -> Iterator[tuple[int, bytes]]:
    """(first line number, block) pieces of a JSONL file, each ending at a line break."""
    line = 1
    with open(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(BLOCK_BYTES)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            yield line, data[:cut]
            line += data.count(b"\n", 0, cut)
            rest = data[cut:]
        if rest.strip():
            yield line, rest + b"\n"


def _read_block(block: bytes, schema: pa.Schema | None) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=schema) if schema is not None else None
    return pj.read_json(io.BytesIO(block), read_options=pj.ReadOptions(block_size=8 << 20), parse_options=options)


def _without_timestamps(dtype: pa.DataType) -> pa.DataType:
    """``dtype`` with every timestamp pyarrow inferred from a string turned back into a string."""
    if pa.types.is_timestamp(dtype):
        return pa.string()
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(_without_timestamps(f.type)) for f in dtype])
    if pa.types.is_list(dtype):
        return pa.list_(dtype.value_field.with_type(_without_timestamps(dtype.value_type)))
    return dtype


def _bad_line(path: Path, first_line: int, block: bytes, schema: pa.Schema | None, exc: Exception) -> InputError:
    """Find the exact bad line: pyarrow's 'row N' counts rows of its own internal blocks, not lines."""
    lines = block.split(b"\n")
    for k, raw in enumerate(lines):
        if raw.strip():
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as err:
                return InputError(f"{path}:{first_line + k}: malformed JSON ({err})")
            if not isinstance(value, dict):
                return InputError(f"{path}:{first_line + k}: line is not a JSON object")
    lo, hi = 1, len(lines)  # every line parses alone: the first prefix pyarrow refuses ends at the culprit
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            _read_block(b"\n".join(lines[:mid]) + b"\n", schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            hi = mid
        else:
            lo = mid + 1
    reason = re.sub(r"^JSON parse error: | in row \d+$", "", str(exc).splitlines()[0])
    return InputError(f"{path}:{first_line + lo - 1}: {reason}")


def _bad_utf8(path: Path, first_line: int, block: bytes, exc: Exception) -> InputError:
    for k, raw in enumerate(block.split(b"\n")):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return InputError(
                f"{path}:{first_line + k}: invalid UTF-8 (byte 0x{raw[err.start]:02x} at byte "
                f"{err.start + 1} of the line); re-encode the file as UTF-8"
            )
    return InputError(f"{path}: lines {first_line}+ hold invalid values ({exc})")


def _jsonl_tables(path: Path, schema: pa.Schema | None) -> Iterator[pa.Table]:
    """Blocks as tables. A string stays a string: pyarrow's timestamp guesses ("2021-03-04") are undone."""
    for first_line, block in _line_blocks(path):
        try:
            block.decode("utf-8")  # before pyarrow: it takes invalid UTF-8 into strings nothing reads back,
        except UnicodeDecodeError as exc:  # and fails on it in a key with a bare traceback
            raise _bad_utf8(path, first_line, block, exc) from None
        try:
            table = _read_block(block, schema)
            if schema is None and any(t != _without_timestamps(t) for t in table.schema.types):
                strings = pa.schema([f.with_type(_without_timestamps(f.type)) for f in table.schema])
                table = _read_block(block, strings).select(table.column_names)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise _bad_line(path, first_line, block, schema, exc) from None
        yield table


def _json_array_table(path: Path, schema: pa.Schema | None) -> pa.Table:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InputError(f"{path}: expected a JSON array of objects")
    try:
        return pa.Table.from_pylist(data, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: records disagree on a column type ({exc})") from None


def read_tables(path: Path, fmt: str, schema: pa.Schema | None = None) -> Iterator[pa.Table]:
    """The file (``fmt`` jsonl, json or parquet) as Arrow tables, in order, typed by ``schema`` when given
    (else inferred)."""
    if fmt == "jsonl":
        yield from _jsonl_tables(path, schema)
    elif fmt == "json":
        yield _json_array_table(path, schema)
    else:
        with reading_parquet(path):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
                yield pa.Table.from_batches([batch])
