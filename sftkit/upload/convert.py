"""JSON/JSONL/Parquet to Parquet with one schema per config, streamed, and redone only on change.

Two streaming passes over each config: the first infers every file's schema in blocks (pyarrow's
JSON reader, never a whole file in memory) and unifies them: missing columns become nulls, int
and float widen to float, and a real conflict names the file and column. The second writes each
file as zstd Parquet with the config's schema. A manifest keeps each source's content hash and
schema, so a rerun converts only changed sources and never re-parses unchanged ones.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

from sftkit.data.atomic import atomic_path, write_json_atomic
from sftkit.data.checkpoint import file_sha256
from sftkit.data.errors import InputError
from sftkit.data.sources import reading_parquet
from sftkit.upload.layout import DATA_DIR, MANIFEST, SourceFile

STAGING = ".sftkit-staging"

BLOCK_BYTES = 64 << 20
ROW_GROUP_BYTES = 128 << 20


@dataclass
class FileResult:
    source: SourceFile
    rows: int
    status: str  # converted | unchanged | empty


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
            return InputError(f"{path}:{first_line + k}: invalid UTF-8 (byte 0x{raw[err.start]:02x} at byte "
                              f"{err.start + 1} of the line); re-encode the file as UTF-8")
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


def read_tables(src: SourceFile, schema: pa.Schema | None = None) -> Iterator[pa.Table]:
    """The file as Arrow tables, in order, typed by ``schema`` when given (else inferred)."""
    if src.fmt == "jsonl":
        yield from _jsonl_tables(src.path, schema)
    elif src.fmt == "json":
        yield _json_array_table(src.path, schema)
    else:
        with reading_parquet(src.path):
            for batch in pq.ParquetFile(src.path).iter_batches(batch_size=65_536):
                yield pa.Table.from_batches([batch])


def _unify(a: pa.Schema, b: pa.Schema, where_a: str, where_b: str) -> pa.Schema:
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        for field in b:
            if field.name in a.names:
                try:
                    pa.unify_schemas([pa.schema([a.field(field.name)]), pa.schema([field])],
                                     promote_options="permissive")
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    raise InputError(f"column {field.name!r} is {a.field(field.name).type} in {where_a} but "
                                     f"{field.type} in {where_b}; make them agree") from None
        raise


class _ParquetSink:
    """zstd Parquet written table by table, row groups sized to about ROW_GROUP_BYTES."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path, self.schema, self.rows = path, schema, 0
        self._writer: pq.ParquetWriter | None = None
        self._group = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            per_row = max(1, table.nbytes // max(1, table.num_rows))
            self._group = int(min(1_000_000, max(1_000, ROW_GROUP_BYTES // per_row)))
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table, row_group_size=self._group)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is None:
            pq.write_table(self.schema.empty_table(), self.path, compression="zstd")
        else:
            self._writer.close()


def scan(src: SourceFile, staging: Path) -> tuple[pa.Schema | None, Path | None]:
    """Infer a file's schema (None: no rows) in one streamed pass.

    A JSONL file whose blocks all parse to the same schema is staged as Parquet on the way, so
    the common case (one consistent file) is parsed once, not twice.
    """
    if src.fmt == "parquet":
        with reading_parquet(src.path):
            pf = pq.ParquetFile(src.path)
        return (pf.schema_arrow if pf.metadata.num_rows else None), None
    if src.fmt == "json":
        table = next(read_tables(src))
        return (table.schema if table.num_rows else None), None
    schema, sink = None, None
    staging.parent.mkdir(parents=True, exist_ok=True)
    for table in read_tables(src):
        if not table.num_rows:
            continue
        if schema is None:
            schema, sink = table.schema, _ParquetSink(staging, table.schema)
        elif table.schema != schema:
            schema = _unify(schema, table.schema, src.rel, src.rel)
            if sink is not None:
                sink.close()
                staging.unlink(missing_ok=True)
                sink = None
        if sink is not None:
            sink.write(table)
    if sink is None:
        return schema, None
    sink.close()
    return schema, staging


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, in order; absent ones are nulls."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def write_parquet(src: SourceFile, schema: pa.Schema, dest: Path, staged: Path | None = None) -> int:
    """Write ``src`` as Parquet with the config's ``schema``, reusing a staged copy when there is one."""
    if staged is not None and pq.ParquetFile(staged).schema_arrow == schema:
        dest.parent.mkdir(parents=True, exist_ok=True)
        rows = pq.ParquetFile(staged).metadata.num_rows
        os.replace(staged, dest)
        return rows
    if staged is not None:
        tables = (pa.Table.from_batches([b]) for b in pq.ParquetFile(staged).iter_batches(batch_size=65_536))
    else:
        tables = read_tables(src, schema if src.fmt != "parquet" else None)
    with atomic_path(dest) as tmp:
        sink = _ParquetSink(tmp, schema)
        for table in tables:
            if table.num_rows:
                sink.write(conform(table, schema))
        sink.close()
    return sink.rows


def _encode(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def _decode(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


class Manifest:
    """Per source: content hash, schema, rows and output; plus the schema each config was written with.

    ``VERSION`` changes with the conversion rules (2: strings are no longer read as timestamps), and a
    manifest of another version is ignored, so every source is converted again under the new rules."""

    VERSION = 2

    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST
        data = orjson.loads(self.path.read_bytes()) if self.path.exists() else {}
        if data.get("version") != self.VERSION:
            data = {}
        self.files: dict[str, dict[str, Any]] = data.get("files", {})
        self.configs: dict[str, str] = data.get("configs", {})

    def save(self) -> None:
        write_json_atomic(self.path, {"version": self.VERSION, "files": self.files, "configs": self.configs})


def convert_config(root: Path, config: str, sources: list[SourceFile], manifest: Manifest) -> list[FileResult]:
    """Bring ``data/<config>/`` in line with the config's sources; returns what happened per file."""
    hashes = {s.rel: file_sha256(s.path) for s in sources}
    schemas: dict[str, pa.Schema | None] = {}
    staged: dict[str, Path | None] = {}
    staging = root / STAGING / config
    for k, src in enumerate(sources):
        entry = manifest.files.get(src.rel)
        if entry and entry["sha256"] == hashes[src.rel]:
            schemas[src.rel] = _decode(entry["schema"]) if entry["schema"] else None
        else:
            schemas[src.rel], staged[src.rel] = scan(src, staging / f"{k}.parquet")
    unified, first = None, None
    for src in sources:
        schema = schemas[src.rel]
        if schema is not None:
            unified = schema if unified is None else _unify(unified, schema, first, src.rel)
            first = first or src.rel
    if unified is None:  # nothing to publish: reported as empty, and the config is left off the card
        for src in sources:
            manifest.files[src.rel] = {"sha256": hashes[src.rel], "rows": 0, "output": src.output_rel, "schema": None}
        manifest.configs.pop(config, None)
        _remove_stale(root, config, set())
        return [FileResult(src, 0, "empty") for src in sources]
    encoded = _encode(unified)
    results = []
    for src in sources:
        entry = manifest.files.get(src.rel)
        dest = root / src.output_rel
        if schemas[src.rel] is None:
            dest.unlink(missing_ok=True)
            results.append(FileResult(src, 0, "empty"))
        elif (entry and entry["sha256"] == hashes[src.rel] and manifest.configs.get(config) == encoded
              and dest.exists()):
            results.append(FileResult(src, entry["rows"], "unchanged"))
        else:
            results.append(FileResult(src, write_parquet(src, unified, dest, staged.get(src.rel)), "converted"))
        manifest.files[src.rel] = {"sha256": hashes[src.rel], "rows": results[-1].rows, "output": src.output_rel,
                                   "schema": _encode(schemas[src.rel]) if schemas[src.rel] else None}
    manifest.configs[config] = encoded
    shutil.rmtree(root / STAGING, ignore_errors=True)
    _remove_stale(root, config, {s.output_rel for s in sources if schemas[s.rel] is not None})
    return results


def _remove_stale(root: Path, config: str, keep: set[str]) -> None:
    folder = root / DATA_DIR / config
    for path in folder.rglob("*.parquet") if folder.exists() else []:
        if path.relative_to(root).as_posix() not in keep:
            path.unlink()


def forget_missing(root: Path, manifest: Manifest, configs: set[str], present: set[str]) -> list[str]:
    """Drop manifest entries and Parquet outputs whose source or whole config is gone."""
    removed = []
    for rel in list(manifest.files):
        if rel not in present:
            out = root / manifest.files.pop(rel)["output"]
            if out.exists():
                out.unlink()
                removed.append(out.relative_to(root).as_posix())
    for config in list(manifest.configs):
        if config not in configs:
            manifest.configs.pop(config)
    data = root / DATA_DIR
    for folder in sorted(data.iterdir()) if data.exists() else []:
        if folder.is_dir() and folder.name not in configs:
            for path in folder.rglob("*.parquet"):
                path.unlink()
                removed.append(path.relative_to(root).as_posix())
    return removed
