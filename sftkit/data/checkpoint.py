"""One shard's output with per-chunk checkpoints and a completion marker (datatrove style).

Layout under ``<output>.parts/``::

    part-00003-of-00008.jsonl          final part, renamed into place when the shard completes
    part-00003-of-00008.rejects.jsonl  quarantined rows of that shard (only if any)
    part-00003-of-00008.done           completion marker: counts, timings, settings fingerprint
    part-00003-of-00008.ckpt/          while running: chunk-000000.jsonl + chunk-000000.json ...

A chunk counts only once its ``.json`` meta exists (written last, atomically), and chunks are
ordered by their number, never by file name, so a killed shard restarts exactly after the last
complete chunk: nothing lost, nothing written twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sftkit.data.atomic import atomic_path, dumps_line, write_bytes_atomic, write_json_atomic
from sftkit.data.errors import InputError, Reject
from sftkit.data.shards import Shard

_PROVENANCE_ENV = ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT",
                   "CUDA_VISIBLE_DEVICES", "VLLM_PORT", "MASTER_PORT")


def parts_dir(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".parts")


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def _chunk_number(meta: Path) -> int:
    return int(meta.stem.split("-", 1)[1])


@dataclass
class _Buffer:
    start: int
    stop: int
    lines: list[bytes] = field(default_factory=list)
    rejects: list[bytes] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


class ShardRun:
    """Checkpointed writer for one shard. ``add`` batches as they are processed, then ``finish``."""

    def __init__(self, output: str | Path, shard: Shard, num_rows: int, stage: str, settings: dict[str, Any],
                 every: int, sort: list[dict[str, str]] | None = None, overwrite: bool = False,
                 subset: dict[str, str] | None = None) -> None:
        self.dir = parts_dir(output)
        self.shard, self.stage, self.every, self.sort, self.subset = shard, stage, max(1, every), sort, subset
        self.num_rows, self.rows = num_rows, shard.rows(num_rows)
        name = shard.name
        self.data = self.dir / f"{name}.jsonl"
        self.rejects_path = self.dir / f"{name}.rejects.jsonl"
        self.marker = self.dir / f"{name}.done"
        self.ckpt = self.dir / f"{name}.ckpt"
        self.settings = settings
        self.fingerprint = fingerprint({"stage": stage, **settings})
        if overwrite:
            self._remove()
        self._check_settings()
        if self.complete:
            shutil.rmtree(self.ckpt, ignore_errors=True)
            self._chunks: list[dict[str, Any]] = []
        else:
            self.ckpt.mkdir(parents=True, exist_ok=True)
            if not (self.ckpt / "settings.json").exists():
                write_json_atomic(self.ckpt / "settings.json", {"fingerprint": self.fingerprint, **settings})
            self._chunks = self._load_chunks()
        self._buf: _Buffer | None = None
        self._started = time.time()

    @property
    def complete(self) -> bool:
        return self.marker.exists()

    def marker_data(self) -> dict[str, Any]:
        return orjson.loads(self.marker.read_bytes())

    def _remove(self) -> None:
        shutil.rmtree(self.ckpt, ignore_errors=True)
        for path in (self.data, self.rejects_path, self.marker):
            path.unlink(missing_ok=True)

    def _check_settings(self) -> None:
        if self.marker.exists():
            found = self.marker_data().get("fingerprint")
        elif (self.ckpt / "settings.json").exists():
            found = orjson.loads((self.ckpt / "settings.json").read_bytes()).get("fingerprint")
        else:
            return
        if found != self.fingerprint:
            raise InputError(f"{self.dir}: {self.shard.name} was started with different settings or input; "
                             "pass --overwrite to redo it, or choose another --output")

    def _load_chunks(self) -> list[dict[str, Any]]:
        metas = sorted(self.ckpt.glob("chunk-*.json"), key=_chunk_number)
        chunks = [orjson.loads(m.read_bytes()) for m in metas]
        for k, (meta, chunk) in enumerate(zip(metas, chunks)):
            if _chunk_number(meta) != k or (k and chunk["start"] != chunks[k - 1]["stop"]):
                raise InputError(f"{self.ckpt}: checkpoint chunks are not contiguous at {meta.name}; "
                                 "pass --overwrite to redo this shard")
        return chunks

    def resume_from(self) -> int:
        """The first row not yet covered by a complete chunk."""
        return self._chunks[-1]["stop"] if self._chunks else self.rows.start

    def add(self, records: Iterable[dict[str, Any]], rejects: Iterable[Reject], stop: int,
            counts: Counter | None = None) -> None:
        """Record the outputs of rows up to ``stop``; flushes a chunk every ``every`` input rows."""
        if self._buf is None:
            self._buf = _Buffer(self.resume_from(), stop)
        self._buf.lines.extend(dumps_line(r) for r in records)
        self._buf.rejects.extend(dumps_line(r.to_json()) for r in rejects)
        self._buf.counts.update(counts or {})
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
        meta = {"start": buf.start, "stop": buf.stop, "records": len(buf.lines),
                "rejects": len(buf.rejects), "counts": dict(buf.counts),
                "seconds": round(time.time() - self._started, 3)}
        write_json_atomic(base.with_suffix(".json"), meta)
        self._chunks.append(meta)
        self._buf = None
        self._started = time.time()

    def finish(self) -> dict[str, Any]:
        """Flush the last partial chunk, join the chunks into the part, and write the marker."""
        self._flush()
        rows = self.rows
        chunk_files = [self.ckpt / f"chunk-{k:06d}" for k in range(len(self._chunks))]
        _concat([c.with_suffix(".jsonl") for c in chunk_files], self.data)
        n_rejects = sum(c["rejects"] for c in self._chunks)
        if n_rejects:
            _concat([c.with_suffix(".rejects.jsonl") for c in chunk_files], self.rejects_path)
        else:
            self.rejects_path.unlink(missing_ok=True)
        counts: Counter = Counter()
        for c in self._chunks:
            counts.update(c["counts"])
        covered = self._chunks[-1]["stop"] if self._chunks else rows.stop
        if covered != rows.stop:
            raise RuntimeError(f"{self.shard.name}: covered rows up to {covered}, expected {rows.stop}")
        marker = {
            "stage": self.stage, "shard": self.shard.name, "index": self.shard.index,
            "count": self.shard.count, "start": str(self.shard.start), "end": str(self.shard.end),
            "rows": [rows.start, rows.stop], "num_rows": self.num_rows,
            "records": sum(c["records"] for c in self._chunks), "rejects": n_rejects,
            "counts": dict(counts), "seconds": round(sum(c["seconds"] for c in self._chunks), 3),
            "chunks": len(self._chunks), "fingerprint": self.fingerprint, "settings": self.settings, "sort": self.sort,
            "subset": self.subset,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": socket.gethostname(),
            **{k.lower(): os.environ[k] for k in _PROVENANCE_ENV if k in os.environ},
        }
        write_json_atomic(self.marker, marker)
        shutil.rmtree(self.ckpt, ignore_errors=True)
        return marker


def _concat(sources: list[Path], dest: Path) -> None:
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        for src in sources:
            with open(src, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
