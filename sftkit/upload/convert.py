"""JSON/JSONL/Parquet to Parquet with one schema per config, streamed, and redone only on change.

Two streaming passes over each config: the first infers every file's schema in blocks (pyarrow's
JSON reader, never a whole file in memory) and unifies them: missing columns become nulls, int
and float widen to float, and a real conflict names the file and column. The second writes each
file as zstd Parquet with the config's schema. A manifest keeps each source's content hash and
schema, so a rerun converts only changed sources and never re-parses unchanged ones.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sftkit.data.atomic import atomic_path
from sftkit.data.files import reading_parquet
from sftkit.data.hashing import file_sha256
from sftkit.data.json_tables import read_tables
from sftkit.errors import InputError
from sftkit.export.layout import DATA_DIR, SourceFile
from sftkit.export.manifest import STAGING, Manifest, decode_schema, encode_schema

ROW_GROUP_BYTES = 128 << 20


@dataclass
class FileResult:
    source: SourceFile
    rows: int
    status: str  # converted | unchanged | empty


def _unify(a: pa.Schema, b: pa.Schema, where_a: str, where_b: str) -> pa.Schema:
    try:
        return pa.unify_schemas([a, b], promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        for field in b:
            if field.name in a.names:
                try:
                    pa.unify_schemas(
                        [pa.schema([a.field(field.name)]), pa.schema([field])], promote_options="permissive"
                    )
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    raise InputError(
                        f"column {field.name!r} is {a.field(field.name).type} in {where_a} but "
                        f"{field.type} in {where_b}; make them agree"
                    ) from None
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
        table = next(read_tables(src.path, src.fmt))
        return (table.schema if table.num_rows else None), None
    schema, sink = None, None
    staging.parent.mkdir(parents=True, exist_ok=True)
    for table in read_tables(src.path, src.fmt):
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
        tables = read_tables(src.path, src.fmt, schema if src.fmt != "parquet" else None)
    with atomic_path(dest) as tmp:
        sink = _ParquetSink(tmp, schema)
        for table in tables:
            if table.num_rows:
                sink.write(conform(table, schema))
        sink.close()
    return sink.rows


def convert_config(root: Path, config: str, sources: list[SourceFile], manifest: Manifest) -> list[FileResult]:
    """Bring ``data/<config>/`` in line with the config's sources; returns what happened per file."""
    hashes = {s.rel: file_sha256(s.path) for s in sources}
    schemas: dict[str, pa.Schema | None] = {}
    staged: dict[str, Path | None] = {}
    staging = root / STAGING / config
    for k, src in enumerate(sources):
        entry = manifest.files.get(src.rel)
        if entry and entry["sha256"] == hashes[src.rel]:
            schemas[src.rel] = decode_schema(entry["schema"]) if entry["schema"] else None
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
    encoded = encode_schema(unified)
    results = []
    for src in sources:
        entry = manifest.files.get(src.rel)
        dest = root / src.output_rel
        if schemas[src.rel] is None:
            dest.unlink(missing_ok=True)
            results.append(FileResult(src, 0, "empty"))
        elif entry and entry["sha256"] == hashes[src.rel] and manifest.configs.get(config) == encoded and dest.exists():
            results.append(FileResult(src, entry["rows"], "unchanged"))
        else:
            results.append(FileResult(src, write_parquet(src, unified, dest, staged.get(src.rel)), "converted"))
        manifest.files[src.rel] = {
            "sha256": hashes[src.rel],
            "rows": results[-1].rows,
            "output": src.output_rel,
            "schema": encode_schema(schemas[src.rel]) if schemas[src.rel] else None,
        }
    manifest.configs[config] = encoded
    shutil.rmtree(root / STAGING, ignore_errors=True)
    _remove_stale(root, config, {s.output_rel for s in sources if schemas[s.rel] is not None})
    return results


def _remove_stale(root: Path, config: str, keep: set[str]) -> None:
    folder = root / DATA_DIR / config
    for path in folder.rglob("*.parquet") if folder.exists() else []:
        if path.relative_to(root).as_posix() not in keep:
            path.unlink()
