"""Open ``--input``: a Hub dataset id, a local .json/.jsonl/.parquet file, a directory, or a glob.

Every source exposes the same two things: the real row count (shards are cut from it) and
batches over any row range, so sharding, resume and selection never care where rows come from.
This module picks the source: ``files`` reads local files, ``hub`` Hub datasets, and ``side_files``
keeps a stage's own outputs in an input folder from being read as data.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sftkit.data.batch import Batch
from sftkit.data.files import FILE_FORMATS, FileSource
from sftkit.data.hub import HubSource
from sftkit.data.input_spec import InputSpec
from sftkit.data.side_files import data_files
from sftkit.errors import InputError

INPUT_FORMATS = ("auto", "hub", *sorted(set(FILE_FORMATS.values())))


class Source(Protocol):
    name: str

    def num_rows(self) -> int: ...

    def batches(self, start: int, stop: int, batch_size: int) -> Iterator[Batch]: ...

    def iter_all(self, batch_size: int) -> Iterator[Batch]: ...

    def identity(self) -> dict[str, Any]: ...


def open_source(spec: InputSpec, flag: str = "--input", offline_arg: str | None = None) -> Source:
    """``flag`` names the option in errors; ``offline_arg``: what to pass it for a downloaded copy
    (default ``data/ID``)."""
    source = _open(spec, flag, offline_arg)
    return source if spec.max_rows is None else FirstRows(source, spec.max_rows)


def _open(spec: InputSpec, flag: str, offline_arg: str | None) -> Source:
    if spec.format == "hub":
        if _looks_local(spec.input) and not Path(spec.input).expanduser().exists():  # a typo, not a Hub id
            raise InputError(f"{flag} {spec.input}: no such folder here ({Path(spec.input).absolute()})")
        return HubSource(spec, flag, offline_arg)
    files = _local_files(spec.input)
    if files is None:
        if spec.format != "auto" or _looks_local(spec.input):
            raise InputError(
                f"{flag} {spec.input}: no such file, folder or glob match here ({Path(spec.input).absolute()})"
            )
        return HubSource(spec, flag, offline_arg)
    return FileSource(spec.input, [(f, _file_format(f, spec.format)) for f in files])


class FirstRows:
    """The first ``limit`` rows of a source; shards and percentages are cut from that count."""

    def __init__(self, source: Source, limit: int) -> None:
        self.source, self.limit, self.name = source, limit, source.name

    def num_rows(self) -> int:
        return min(self.limit, self.source.num_rows())

    def identity(self) -> dict[str, Any]:
        return {**self.source.identity(), "rows": self.num_rows()}

    def batches(self, start: int, stop: int, batch_size: int) -> Iterator[Batch]:
        return self.source.batches(start, min(stop, self.limit), batch_size)

    def iter_all(self, batch_size: int) -> Iterator[Batch]:
        for batch in self.source.iter_all(batch_size):
            if batch.start >= self.limit:
                return
            if batch.stop > self.limit:
                yield batch.rows_between(batch.start, self.limit)
                return
            yield batch


def _local_files(pattern: str) -> list[str] | None:
    """Files named by a path, a folder (searched recursively) or a glob; None if it names nothing local."""
    path = Path(pattern)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        return data_files([p for p in path.rglob("*") if p.is_file() and p.suffix in FILE_FORMATS], path, pattern)
    if glob.has_magic(pattern):
        matches = [Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not matches:
            raise InputError(f"--input {pattern}: the glob matches no files")
        return data_files(matches, Path(os.path.commonpath([p.parent for p in matches])), pattern)
    return None


def _looks_local(name: str) -> bool:
    """A path rather than a Hub id (ORG/NAME, or NAME): a file suffix, a path prefix, more than one slash, or
    a first part that is a folder here. Sent to the Hub it would fail as "no such dataset", hiding a typo."""
    path = Path(name).expanduser()
    return (
        path.suffix in FILE_FORMATS
        or name.startswith(("/", "./", "../", "~"))
        or name.count("/") > 1
        or (len(path.parts) > 1 and Path(path.parts[0]).is_dir())
    )


def local_identity(pattern: str) -> dict[str, Any] | None:
    """FileSource.identity (rows, each file's sha256) of the local files ``pattern`` names; None if it
    names nothing local (a Hub id). The pipeline compares it to see that an input changed."""
    files = _local_files(pattern)
    return None if files is None else FileSource(pattern, [(f, _file_format(f, "auto")) for f in files]).identity()


def _file_format(path: str, forced: str) -> str:
    if forced != "auto":
        return forced
    fmt = FILE_FORMATS.get(Path(path).suffix)
    if fmt is None:
        raise InputError(f"{path}: unknown file type; use --input-format {{{','.join(INPUT_FORMATS[2:])}}}")
    return fmt
