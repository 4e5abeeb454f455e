"""Every row's dedup arrays (the parts', then the reference's) read from their ``.npy`` files without holding them.

A column comes in chunks read with plain file reads, and rows for a set of nodes through a memory map opened
for one block of nodes and closed after it, so what a merge task holds is its partition, not the files
(a memory map's touched pages count in a process's resident memory until it is closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHUNK_ROWS = 1 << 18
_ROWS_PER_MAP = 1 << 15


def _header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-order ``.npy`` file."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fh)
        return shape, dtype, fh.tell()


def column_chunks(path: Path, j: int | None) -> Iterator[np.ndarray]:
    """Column ``j`` of a 2-d array (or the whole 1-d array, ``j`` None), ``CHUNK_ROWS`` rows at a time."""
    shape, dtype, offset = _header(path)
    width = int(np.prod(shape[1:], dtype=np.int64))
    with open(path, "rb") as fh:
        fh.seek(offset)
        for start in range(0, shape[0], CHUNK_ROWS):
            n = min(CHUNK_ROWS, shape[0] - start)
            block = np.fromfile(fh, dtype=dtype, count=n * width)
            yield block if j is None else block.reshape(n, width)[:, j].copy()


@dataclass
class Store:
    """The ``.npy`` files of each block of rows (a part, or the reference), addressed by one node index."""

    blocks: list[dict[str, Path]]
    sizes: list[int]

    def __post_init__(self) -> None:
        self.starts = np.cumsum([0, *self.sizes])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def chunks(self, name: str, j: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first node, values) of column ``j`` of array ``name``, block after block, in node order."""
        for start, block, size in zip(self.starts, self.blocks, self.sizes):
            if size:
                at = int(start)
                for values in column_chunks(block[name], j):
                    yield at, values
                    at += len(values)

    def rows(self, name: str, index: np.ndarray) -> np.ndarray:
        """The rows of array ``name`` for the ``index`` nodes (any order, repeats allowed)."""
        order = np.argsort(index, kind="stable")  # a memory map reads fastest in file order
        out = None
        for lo in range(0, len(order), _ROWS_PER_MAP):
            at = order[lo : lo + _ROWS_PER_MAP]
            block = np.searchsorted(self.starts, index[at], side="right") - 1
            for k in np.unique(block).tolist():
                mapped = np.load(self.blocks[k][name], mmap_mode="r")
                if out is None:
                    out = np.empty((len(index), *mapped.shape[1:]), dtype=mapped.dtype)
                mine = at[block == k]
                out[mine] = mapped[index[mine] - self.starts[k]]
                del mapped
        if out is None:
            first = next(b for b, s in zip(self.blocks, self.sizes) if s) if any(self.sizes) else None
            shape, dtype, _ = _header(first[name]) if first else ((0,), np.dtype(np.float64), 0)
            out = np.empty((0, *shape[1:]), dtype=dtype)
        return out
