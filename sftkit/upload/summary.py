"""What each config of a folder holds, read from its Parquet metadata: splits, rows, sizes, columns, one
example, the features a card's ``dataset_info`` lists; and the text lengths its plots show."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sftkit.errors import InputError
from sftkit.export.layout import DATA_DIR


@dataclass
class ConfigSummary:
    """One config as the card and plots need it, read once from the Parquet footers and one row."""

    name: str
    splits: dict[str, list[str]]  # split -> its Parquet files, relative to the folder
    rows: dict[str, int]  # split -> rows
    bytes: int
    columns: list[tuple[str, str]]
    example: dict[str, Any] | None
    features: list[dict[str, Any]]  # as a card's dataset_info spells them
    split_bytes: dict[str, int] = field(default_factory=dict)  # split -> uncompressed bytes

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    @property
    def files(self) -> list[str]:
        return [f for files in self.splits.values() for f in files]


def size_category(rows: int) -> str:
    """The Hub's size category of ``rows`` (its ``size_categories`` list, sftkit/upload/hub_lists.json)."""
    bounds = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M")]
    bounds += [(10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B")]
    bounds += [(10**11, "10B<n<100B"), (10**12, "100B<n<1T")]
    return next((label for bound, label in bounds if rows < bound), "n>1T")


def summarize(root: Path, config: str, split_globs: dict[str, str]) -> ConfigSummary:
    """``split_globs``: split -> the glob of its Parquet under ``data/<config>/``."""
    folder = root / DATA_DIR / config
    splits = {s: sorted(folder.glob(g)) for s, g in split_globs.items()}
    splits = {s: files for s, files in splits.items() if files}
    files = [f for fs in splits.values() for f in fs]
    meta = {f: pq.ParquetFile(f).metadata for f in files}
    schema = pq.ParquetFile(files[0]).schema_arrow if files else None
    example = None
    for f in files:
        if meta[f].num_rows:
            example = next(pq.ParquetFile(f).iter_batches(batch_size=1)).to_pylist()[0]
            break
    return ConfigSummary(
        config,
        {s: [f.relative_to(root).as_posix() for f in fs] for s, fs in splits.items()},
        {s: sum(meta[f].num_rows for f in fs) for s, fs in splits.items()},
        sum(f.stat().st_size for f in files),
        [(fl.name, str(fl.type)) for fl in schema] if schema else [],
        example,
        datasets.Features.from_arrow_schema(schema)._to_yaml_list() if schema else [],
        {s: sum(_uncompressed(meta[f]) for f in fs) for s, fs in splits.items()},
    )


SAMPLE_ROWS = 2_000
_NOT_TEXT = {"role", "from", "name", "type", "id"}  # structure, not language: every chat row has "assistant"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _NOT_TEXT and not k.endswith("_id"):
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def sample_texts(root: Path, summaries: list[ConfigSummary], rows: int = SAMPLE_ROWS) -> Iterator[str]:
    """The text of the first ``rows`` rows of each split of each config (nested messages included, their roles
    and ids left out): what the card's language is told from, without reading a whole large dataset."""
    for s in summaries:
        for files in s.splits.values():
            left = rows
            for f in files:
                for batch in pq.ParquetFile(root / f).iter_batches(batch_size=min(left, 1024)):
                    for row in batch.to_pylist()[:left]:
                        yield from _strings(row)
                    left -= min(left, batch.num_rows)
                    if not left:
                        break
                if not left:
                    break


def _uncompressed(meta: pq.FileMetaData) -> int:
    return sum(meta.row_group(k).total_byte_size for k in range(meta.num_row_groups))


def text_field(summaries: list[ConfigSummary], wanted: str | None) -> str | None:
    """``wanted``, else the string column with the longest example value (the answer, usually)."""
    if wanted:
        types = {name: dtype for s in summaries for name, dtype in s.columns}
        if types.get(wanted) not in ("string", "large_string"):
            texts = sorted(name for name, dtype in types.items() if dtype in ("string", "large_string"))
            problem = f"is {types[wanted]}, not text" if wanted in types else "is in no config"
            raise InputError(f"--text-field {wanted!r} {problem}; the text fields are: {', '.join(texts) or 'none'}")
        return wanted
    best, best_len = None, 0
    for s in summaries:
        for name, dtype in s.columns:
            value = (s.example or {}).get(name)
            if dtype in ("string", "large_string") and isinstance(value, str) and len(value) > best_len:
                best, best_len = name, len(value)
    return best


def read_column(root: Path, files: list[str], name: str) -> Any:
    """One column of ``files``, one Arrow array per file: never the whole tables."""
    return [pq.read_table(root / f, columns=[name]).column(0) for f in files]


def text_lengths(root: Path, summary: ConfigSummary, name: str) -> np.ndarray | None:
    """Characters of ``name`` per row (nulls count 0), None when the config has no such column."""
    if name not in dict(summary.columns):
        return None
    parts = [pc.fill_null(pc.utf8_length(c), 0).to_numpy() for c in read_column(root, summary.files, name)]
    return np.concatenate(parts) if parts else np.zeros(0)
