"""Open ``--input``: a Hub dataset id, a local .json/.jsonl/.parquet file, a directory, or a glob.

Every source exposes the same two things: the real row count (shards are cut from it) and
batches over any row range, so sharding, resume and selection never care where rows come from.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from sftkit.data.batch import Batch
from sftkit.errors import InputError, Reject

FILE_FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
INPUT_FORMATS = ("auto", "hub", *sorted(set(FILE_FORMATS.values())))
_UNBOUNDED = 2**62


@dataclass(frozen=True)
class InputSpec:
    """Where the rows come from. ``config``/``split``/``streaming`` apply to Hub datasets only."""

    input: str
    config: str | None = None
    split: str = "train"
    format: str = "auto"
    streaming: bool = False
    max_rows: int | None = None  # the predecessor's --max_samples: only the first N rows


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
        return HubSource(spec, flag, offline_arg)
    files = _local_files(spec.input)
    if files is None:
        if spec.format != "auto":
            raise InputError(f"{flag} {spec.input}: no such file, folder or glob match")
        return HubSource(spec, flag, offline_arg)
    return FileSource(spec.input, [(f, _file_format(f, spec.format)) for f in files])


def id_prefixes(files: list[str]) -> dict[str, str]:
    """Each file's path below the files' common folder, without its format suffix unless another file
    differs only in that suffix (``a.json`` and ``a.jsonl`` keep theirs): unique per file."""
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    full = {f: Path(os.path.relpath(os.path.abspath(f), root)).as_posix() for f in files}
    short = {f: rel[: -len(Path(rel).suffix)] if Path(rel).suffix in FILE_FORMATS else rel for f, rel in full.items()}
    taken = Counter(short.values())
    return {f: short[f] if taken[short[f]] == 1 else full[f] for f in files}


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


SIDE_DIRS = (".parts", ".passes", ".ckpt")  # <output><suffix>/: a stage's parts, passes, checkpoints
_SIDE_FILES = (".rejects.jsonl", ".stats.json", ".done")


def side_file(relative: Path) -> str | None:
    """Why a file under an input folder is one of ours or hidden rather than data, or None if it is data.

    A folder that also holds earlier outputs must not feed their parts, rejects, stats or
    checkpoints back in as rows.
    """
    for part in relative.parts[:-1]:
        if part.startswith("."):
            return "hidden"
        if part.endswith(SIDE_DIRS):
            return f"in {part[part.rindex('.') :]}/"
    if relative.name.startswith("."):
        return "hidden"
    return next((f"*{suffix}" for suffix in _SIDE_FILES if relative.name.endswith(suffix)), None)


def _data_files(paths: list[Path], root: Path, what: str) -> list[str]:
    """The data files among ``paths``; says how many were read and which were skipped, and why."""
    skipped = Counter(why for p in paths if (why := side_file(p.relative_to(root))) is not None)
    found = sorted(str(p) for p in paths if side_file(p.relative_to(root)) is None)
    if not found:
        raise InputError(
            f"--input {what}: no {'/'.join(FILE_FORMATS)} data files"
            + (f" (skipped {_counts(skipped)})" if skipped else "")
        )
    print(
        f"input {what}: {len(found):,} file{'s' * (len(found) != 1)} read"
        + (f", skipped {_counts(skipped)}" if skipped else ""),
        file=sys.stderr,
    )
    return found


def _counts(skipped: Counter) -> str:
    return ", ".join(f"{n:,} {why}" for why, n in sorted(skipped.items()))


def _local_files(pattern: str) -> list[str] | None:
    """Files named by a path, a folder (searched recursively) or a glob; None if it names nothing local."""
    path = Path(pattern)
    if path.is_file():
        return [str(path)]
    if path.is_dir():
        return _data_files([p for p in path.rglob("*") if p.is_file() and p.suffix in FILE_FORMATS], path, pattern)
    if glob.has_magic(pattern):
        matches = [Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not matches:
            raise InputError(f"--input {pattern}: the glob matches no files")
        return _data_files(matches, Path(os.path.commonpath([p.parent for p in matches])), pattern)
    return None


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


class FileSource:
    """Local files read in sorted order as one row sequence."""

    def __init__(self, name: str, files: list[tuple[str, str]]) -> None:
        self.name = name
        self.files = files
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
        hashes = {}
        for path, _ in self.files:
            with open(path, "rb") as fh:
                hashes[path] = hashlib.file_digest(fh, "sha256").hexdigest()
        return {"rows": self.num_rows(), "sha256": hashes}

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
            for batch in self._reader(fmt)(path, offset, 0, _UNBOUNDED, batch_size):
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


class HubSource:
    """A dataset loaded by ``datasets.load_dataset``: Arrow-backed, or streamed with ``--streaming``."""

    def __init__(self, spec: InputSpec, flag: str = "--input", offline_arg: str | None = None) -> None:
        import datasets

        self.spec = spec
        self.name = f"{spec.input}:{spec.split}"
        try:
            self.ds = datasets.load_dataset(spec.input, name=spec.config, split=spec.split, streaming=spec.streaming)
        except FileNotFoundError as exc:
            raise InputError(f"{flag} {spec.input}: not a local path, and the Hub has no such dataset ({exc})") from exc
        except ConnectionError as exc:
            local = offline_arg or f"data/{spec.input}"
            raise InputError(
                f"{flag} {spec.input}: not a local path, and the Hugging Face Hub cannot be reached "
                f"({exc}). On a node without internet, download it beforehand where there is: "
                f"`hf download {spec.input} --repo-type dataset --local-dir data/{spec.input}` and pass "
                f"{flag} {local}, or load it once into a shared HF_HOME cache and run with "
                "HF_DATASETS_OFFLINE=1"
            ) from exc
        except ValueError as exc:
            raise InputError(f"{flag} {spec.input} (config={spec.config}, split={spec.split}): {exc}") from exc

    def num_rows(self) -> int:
        if not self.spec.streaming:
            return len(self.ds)
        splits = getattr(self.ds.info, "splits", None) or {}
        info = splits.get(self.spec.split)
        if info is None or not info.num_examples:
            raise InputError(
                f"{self.name}: a streamed dataset without a known row count cannot be "
                "sharded; drop --streaming so the real count is known"
            )
        return int(info.num_examples)

    def identity(self) -> dict[str, Any]:
        """The row count and the revision ``datasets`` resolved, without asking the Hub again: the
        commit sha in the cache folder (for a local folder, datasets' hash of its files and their
        times), or in the ``hf://...@sha`` files a stream reads."""
        if not self.spec.streaming:
            return {
                "rows": self.num_rows(),
                "fingerprint": self.ds._fingerprint,
                "revision": sorted({Path(f["filename"]).parent.name for f in self.ds.cache_files}),
            }
        stream = self.ds._ex_iterable
        while not hasattr(stream, "kwargs") and hasattr(stream, "ex_iterable"):  # formatting/typing wrappers
            stream = stream.ex_iterable
        files = getattr(stream, "kwargs", {}).get("base_files") or []  # hf://datasets/NAME@SHA/... for the Hub
        return {"rows": self.num_rows(), "files": sorted(map(str, files))}

    def batches(self, start: int, stop: int, batch_size: int) -> Iterator[Batch]:
        if not self.spec.streaming:
            arrow = self.ds.with_format("arrow")
            stop = min(stop, len(self.ds))
            for s in range(start, stop, batch_size):
                e = min(stop, s + batch_size)
                yield Batch(s, e, self.name, 0, np.arange(s, e, dtype=np.int64), table=arrow[s:e])
            return
        stream = self.ds.skip(start) if start else self.ds
        pos = start
        for cols in stream.iter(batch_size=batch_size):
            names = list(cols)
            n = len(cols[names[0]]) if names else 0
            n = min(n, stop - pos)
            rows = [{k: cols[k][i] for k in names} for i in range(n)]
            yield Batch(pos, pos + n, self.name, 0, np.arange(pos, pos + n, dtype=np.int64), rows=rows)
            pos += n
            if pos >= stop:
                return

    def iter_all(self, batch_size: int) -> Iterator[Batch]:
        """Every row, for single-pass consumers of a stream whose length is unknown."""
        return self.batches(0, _UNBOUNDED, batch_size)
