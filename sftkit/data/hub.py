"""Hub datasets (anything ``datasets.load_dataset`` opens) as a source: the same rows and batches as local files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sftkit.data.batch import UNBOUNDED, Batch
from sftkit.data.input_spec import InputSpec
from sftkit.errors import InputError

if TYPE_CHECKING:
    from datasets import Dataset


class HubSource:
    """A dataset loaded by ``datasets.load_dataset``: Arrow-backed, or streamed with ``--streaming``."""

    def __init__(self, spec: InputSpec, flag: str = "--input", offline_arg: str | None = None) -> None:
        import datasets

        self.spec = spec
        self.name = f"{spec.input}:{spec.split}"
        self.stream_files: list[str] = []  # the files a stream reads, hf://datasets/NAME@SHA/... for the Hub
        try:
            if spec.streaming:  # what load_dataset(..., streaming=True) does, keeping the builder's data files
                builder = datasets.load_dataset_builder(spec.input, name=spec.config)
                self.ds = builder.as_streaming_dataset(split=spec.split)
                self.stream_files = sorted(map(str, (builder.config.data_files or {}).get(spec.split, [])))
            else:
                self.ds = datasets.load_dataset(spec.input, name=spec.config, split=spec.split)
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
                "fingerprint": _fingerprint(self.ds),
                "revision": sorted({Path(f["filename"]).parent.name for f in self.ds.cache_files}),
            }
        return {"rows": self.num_rows(), "files": self.stream_files}

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
        return self.batches(0, UNBOUNDED, batch_size)


def _fingerprint(ds: Dataset) -> str:
    """The fingerprint ``datasets`` gave a loaded dataset (its cache key). ``datasets`` has no public
    accessor for it (only the private ``_fingerprint``), so this is the one place that reads it."""
    return ds._fingerprint
