"""One shard's output with per-chunk checkpoints and a completion marker (datatrove style).

Layout under ``<output>.parts/``::

    part-00003-of-00008.jsonl          final part, renamed into place when the shard completes
    part-00003-of-00008.rejects.jsonl  quarantined rows of that shard (only if any)
    part-00003-of-00008.done           completion marker: counts, timings, settings fingerprint
    part-00003-of-00008.NAME.npy       arrays a stage keeps beside its records, one row per record
    part-00003-of-00008.ckpt/          while running: chunk-000000.jsonl + chunk-000000.json ...
    part-00003-of-00008.lock           held (flock) by the one run writing the shard; names it

A chunk counts only once its ``.json`` meta exists (written last, atomically), and chunks are
ordered by their number, never by file name, so a killed shard restarts exactly after the last
complete chunk: nothing lost, nothing written twice. The fingerprint covers the settings that
change results and what the input is (row count, content hash or revision), so a shard never
resumes or merges over different input.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import registry
from sftkit.data.atomic import (
    atomic_path,
    dumps_line,
    remove_stale_temporaries,
    write_bytes_atomic,
    write_json_atomic,
)
from sftkit.data.batch import Batch
from sftkit.data.fingerprint import describe_change, fingerprint
from sftkit.data.hashing import file_sha256
from sftkit.data.lock import ShardLock
from sftkit.data.shards import Shard
from sftkit.errors import InputError, Reject

_PROVENANCE_ENV = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_RESTART_COUNT",
    "CUDA_VISIBLE_DEVICES",
    "VLLM_PORT",
    "MASTER_PORT",
)


def parts_dir(output: str | Path) -> Path:
    """``<output>.parts/``, the folder of the layout above, which shard runs write and the merge reads."""
    output = Path(output)
    return output.with_name(output.name + ".parts")


def at_checkpoints(batches: Iterable[Batch], start: int, every: int) -> Iterator[Batch]:
    """Split batches at ``start + k * every``, so that a checkpoint falls every ``every`` rows exactly
    (batches of 8192 with ``--save-per-iteration 10000`` would otherwise checkpoint every 16,384)."""
    for batch in batches:
        lo = batch.start
        while lo < batch.stop:
            hi = min(batch.stop, start + ((lo - start) // every + 1) * every)
            yield batch if (lo, hi) == (batch.start, batch.stop) else batch.rows_between(lo, hi)
            lo = hi


def _chunk_number(meta: Path) -> int:
    return int(meta.stem.split("-", 1)[1])


@dataclass
class _Buffer:
    start: int
    stop: int
    lines: list[bytes] = field(default_factory=list)
    rejects: list[bytes] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    arrays: dict[str, list[np.ndarray]] = field(default_factory=dict)


def _npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def array_path(part: Path, name: str) -> Path:
    """``part-00003-of-00008.NAME.npy`` beside ``part-00003-of-00008.jsonl``."""
    return part.with_name(f"{part.name.removesuffix('.jsonl')}.{name}.npy")


class ShardRun:
    """Checkpointed writer for one shard. ``add`` batches as they are processed, then ``finish``."""

    def __init__(
        self,
        output: str | Path,
        shard: Shard,
        num_rows: int,
        stage: str,
        settings: dict[str, Any],
        every: int,
        sort: list[dict[str, str]] | None = None,
        overwrite: bool = False,
        subset: dict[str, str] | None = None,
        ignore: frozenset[str] = frozenset(),
        pass_rates: dict[str, Any] | None = None,
        filter_plot: dict[str, Any] | None = None,
    ) -> None:
        """``ignore``: settings keys left out of the fingerprint (they change how the work runs only);
        ``pass_rates``, ``filter_plot``: the merge's plots (see ``sftkit.data.merge``), recorded like ``sort``."""
        self.dir = parts_dir(output)
        self.shard, self.stage, self.every, self.sort, self.subset = shard, stage, max(1, every), sort, subset
        self.pass_rates, self.filter_plot = pass_rates, filter_plot
        self.num_rows, self.rows = num_rows, shard.rows(num_rows)
        name = shard.name
        self.data = self.dir / f"{name}.jsonl"
        self.rejects_path = self.dir / f"{name}.rejects.jsonl"
        self.marker = self.dir / f"{name}.done"
        self.ckpt = self.dir / f"{name}.ckpt"
        self.settings = settings
        self.ignore = ignore
        self.fingerprint = self._run_fingerprint(stage, settings, ignore)
        self.lock = ShardLock(self.dir / f"{name}.lock", stage)
        remove_stale_temporaries(self.dir)
        if overwrite:
            self._remove()
        self._check_settings()
        if self.complete:
            shutil.rmtree(self.ckpt, ignore_errors=True)
            self._chunks: list[dict[str, Any]] = []
            self.lock.release()
        else:
            remove_stale_temporaries(self.ckpt)
            self.ckpt.mkdir(parents=True, exist_ok=True)
            if not (self.ckpt / "settings.json").exists():
                write_json_atomic(self.ckpt / "settings.json", {"fingerprint": self.fingerprint, **settings})
            self._chunks = self._load_chunks()
        self._buf: _Buffer | None = None
        self._started = time.time()

    def _run_fingerprint(self, stage: str, settings: dict[str, Any], ignore: frozenset[str]) -> str:
        """The fingerprint of these settings under the stage's name, or under an older name of it (a registry
        alias: the filter was llm_filter) where the shards already in the folder were made under that one, so a
        run under way when the stage was renamed still resumes and its parts still merge."""
        one = fingerprint({"stage": stage, **settings}, ignore)
        base, sep, rest = stage.partition(":")  # a pass of a stage is STAGE:PASS
        older = [f"{alias}{sep}{rest}" for alias, name in registry.ALIASES.items() if name == base]
        if not older or not self.dir.is_dir():
            return one
        found = set()
        for path in (*self.dir.glob("*.done"), *self.dir.glob("*.ckpt/settings.json")):
            try:
                found.add(orjson.loads(path.read_bytes()).get("fingerprint"))
            except (OSError, orjson.JSONDecodeError):
                continue
        if one in found:
            return one
        return next((fp for fp in (fingerprint({"stage": o, **settings}, ignore) for o in older) if fp in found), one)

    @property
    def complete(self) -> bool:
        return self.marker.exists()

    def marker_data(self) -> dict[str, Any]:
        return orjson.loads(self.marker.read_bytes())

    def _remove(self) -> None:
        shutil.rmtree(self.ckpt, ignore_errors=True)
        for path in (self.data, self.rejects_path, self.marker, *self.dir.glob(f"{self.shard.name}.*.npy")):
            path.unlink(missing_ok=True)

    def _check_settings(self) -> None:
        """Refuse to resume or skip a shard made from other settings or input, saying what changed."""
        if self.marker.exists():
            found = self.marker_data()
            old, state = found.get("settings") or {}, "finished"
        elif (self.ckpt / "settings.json").exists():
            found = orjson.loads((self.ckpt / "settings.json").read_bytes())
            old, state = {k: v for k, v in found.items() if k != "fingerprint"}, "started"
        else:
            return
        if found.get("fingerprint") != self.fingerprint:
            raise InputError(
                f"{self.dir}: {self.shard.name} was {state} with different settings or input "
                f"({describe_change(old, self.settings, ignore=self.ignore)}); "
                "pass --overwrite to discard it and start this shard over, or choose another --output"
            )

    def _load_chunks(self) -> list[dict[str, Any]]:
        """The complete chunks, which must tile the shard's rows from its first row on."""
        metas = sorted(self.ckpt.glob("chunk-*.json"), key=_chunk_number)
        chunks = [orjson.loads(m.read_bytes()) for m in metas]
        edge = self.rows.start
        for k, (meta, chunk) in enumerate(zip(metas, chunks)):
            if _chunk_number(meta) != k or chunk["start"] != edge or not edge <= chunk["stop"] <= self.rows.stop:
                raise InputError(
                    f"{self.ckpt}: {meta.name} covers rows {chunk['start']:,}-{chunk['stop']:,}, but "
                    f"the chunks must run on from row {edge:,} within the shard's rows "
                    f"{self.rows.start:,}-{self.rows.stop:,}; pass --overwrite to redo this shard"
                )
            edge = chunk["stop"]
        return chunks

    def saved_records(self) -> Iterator[dict[str, Any]]:
        """The records of the complete chunks, in order (what a resumed shard made before)."""
        for k in range(len(self._chunks)):
            with open(self.ckpt / f"chunk-{k:06d}.jsonl", "rb") as fh:
                yield from (orjson.loads(line) for line in fh if line.strip())

    def resume_from(self) -> int:
        """The first row not yet covered by a complete chunk."""
        return self._chunks[-1]["stop"] if self._chunks else self.rows.start

    def add(
        self,
        records: Iterable[dict[str, Any]],
        rejects: Iterable[Reject],
        stop: int,
        counts: Counter | None = None,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Record the outputs of rows up to ``stop`` (and ``arrays``, one row per record); flushes a
        chunk every ``every`` input rows."""
        if self._buf is None:
            self._buf = _Buffer(self.resume_from(), stop)
        self._buf.lines.extend(dumps_line(r) for r in records)
        self._buf.rejects.extend(dumps_line(r.to_json()) for r in rejects)
        self._buf.counts.update(counts or {})
        for name, array in (arrays or {}).items():
            self._buf.arrays.setdefault(name, []).append(array)
        self._buf.stop = stop
        if stop - self._buf.start >= self.every:
            self._flush()

    def checkpoint(self) -> int:
        """Save what was processed so far as a chunk now; returns the row a restart resumes at."""
        self._flush()
        return self.resume_from()

    def _flush(self) -> None:
        buf, k = self._buf, len(self._chunks)
        if buf is None:
            return
        base = self.ckpt / f"chunk-{k:06d}"
        write_bytes_atomic(base.with_suffix(".jsonl"), b"".join(buf.lines))
        write_bytes_atomic(base.with_suffix(".rejects.jsonl"), b"".join(buf.rejects))
        for name, arrays in buf.arrays.items():  # before the meta: a chunk without its arrays never counts
            write_bytes_atomic(array_path(base, name), _npy_bytes(np.concatenate(arrays)))
        meta = {
            "start": buf.start,
            "stop": buf.stop,
            "records": len(buf.lines),
            "rejects": len(buf.rejects),
            "counts": dict(buf.counts),
            "arrays": sorted(buf.arrays),
            "seconds": round(time.time() - self._started, 3),
        }
        write_json_atomic(base.with_suffix(".json"), meta)
        self._chunks.append(meta)
        self._buf = None
        self._started = time.time()

    def finish(self) -> dict[str, Any]:
        """Flush the last partial chunk, join the chunks into the part, and write the marker."""
        self._flush()
        rows = self.rows
        chunk_files = [self.ckpt / f"chunk-{k:06d}" for k in range(len(self._chunks))]
        part_bytes, part_sha256 = _concat([c.with_suffix(".jsonl") for c in chunk_files], self.data)
        n_rejects = sum(c["rejects"] for c in self._chunks)
        if n_rejects:
            _concat([c.with_suffix(".rejects.jsonl") for c in chunk_files], self.rejects_path)
        else:
            self.rejects_path.unlink(missing_ok=True)
        counts: Counter = Counter()
        for c in self._chunks:
            counts.update(c["counts"])
        arrays = {
            name: _concat_arrays([array_path(c, name) for c in chunk_files], array_path(self.data, name))
            for name in sorted({n for c in self._chunks for n in c.get("arrays", [])})
        }
        covered = self._chunks[-1]["stop"] if self._chunks else rows.stop
        if covered != rows.stop:
            raise RuntimeError(f"{self.shard.name}: covered rows up to {covered}, expected {rows.stop}")
        marker = {
            "stage": self.stage,
            "shard": self.shard.name,
            "index": self.shard.index,
            "count": self.shard.count,
            "start": str(self.shard.start),
            "end": str(self.shard.end),
            "rows": [rows.start, rows.stop],
            "num_rows": self.num_rows,
            "records": sum(c["records"] for c in self._chunks),
            "bytes": part_bytes,
            "sha256": part_sha256,
            "rejects": n_rejects,
            "arrays": arrays,
            "counts": dict(counts),
            "seconds": round(sum(c["seconds"] for c in self._chunks), 3),
            "chunks": len(self._chunks),
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "runtime_settings": sorted(self.ignore),  # left out of the fingerprint (and of a merge's refusal)
            "sort": self.sort,
            "subset": self.subset,
            "pass_rates": self.pass_rates,
            **({"filter_plot": self.filter_plot} if self.filter_plot else {}),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": socket.gethostname(),
            **{k.lower(): os.environ[k] for k in _PROVENANCE_ENV if k in os.environ},
        }
        write_json_atomic(self.marker, marker)
        shutil.rmtree(self.ckpt, ignore_errors=True)
        self.lock.release()
        return marker


def _concat_arrays(sources: list[Path], dest: Path) -> dict[str, Any]:
    """Join the chunks' arrays into one ``.npy`` without holding them all; returns its rows and sha256."""
    chunks = [np.load(s, mmap_mode="r") for s in sources]
    rows = sum(len(c) for c in chunks)
    with atomic_path(dest) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=chunks[0].dtype, shape=(rows, *chunks[0].shape[1:]))
        edge = 0
        for c in chunks:
            out[edge : edge + len(c)] = c
            edge += len(c)
        out.flush()
        del out
        digest = file_sha256(tmp)
    return {"rows": rows, "sha256": digest}


def _concat(sources: list[Path], dest: Path) -> tuple[int, str]:
    """Join ``sources`` into ``dest``; returns its size and sha256, which the merge checks it against."""
    digest, size = hashlib.sha256(), 0
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        for src in sources:
            with open(src, "rb") as fh:
                while block := fh.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    size += len(block)
    return size, digest.hexdigest()
