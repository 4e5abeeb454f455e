"""Export one config: read its stage outputs, format each row, quarantine bad ones, split, write Parquet.

Writes ``data/<config>/train.parquet`` (and ``validation.parquet`` when a split is asked for) and
``<config>.rejects.jsonl`` beside the folder's data, each atomically; any other Parquet under
``data/<config>/`` (an earlier conversion's) is removed, so the config holds exactly this export.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sftkit.data.atomic import atomic_path, dumps_line
from sftkit.data.json_tables import read_tables
from sftkit.data.writers import write_lines
from sftkit.dedup.text import normalize
from sftkit.errors import InputError
from sftkit.export.field_docs import KEEP_BY_DEFAULT
from sftkit.export.formats import FormatOptions, assistant_text, conversation, to_record
from sftkit.export.layout import DATA_DIR, SourceFile
from sftkit.export.manifest import STAGING
from sftkit.export.pairs import Made, PairMaker, PairOptions
from sftkit.export.reasoning import RowError
from sftkit.export.splits import (
    QUESTION,
    TRAIN,
    VALIDATION,
    SplitOptions,
    key_text,
    validation_mask,
)


@dataclass(frozen=True)
class ExportOptions:
    formatting: FormatOptions
    split: SplitOptions
    keep: tuple[str, ...] | None = None  # None: the KEEP_BY_DEFAULT fields a row has
    pairs: PairOptions = field(default_factory=PairOptions)  # --format dpo


@dataclass
class ExportResult:
    config: str
    rows_in: int = 0
    splits: dict[str, int] = field(default_factory=dict)  # split -> rows written
    files: dict[str, str] = field(default_factory=dict)  # split -> Parquet path relative to the folder
    reasons: Counter = field(default_factory=Counter)
    rejects_file: str | None = None
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0))
    columns: set[str] = field(default_factory=set)  # every column some record has

    @property
    def rejects(self) -> int:
        return sum(self.reasons.values())


def rejects_path(root: Path, config: str) -> Path:
    return root / f"{config}.rejects.jsonl"


def _kept(row: dict[str, Any], opts: ExportOptions, mapped: set[str]) -> dict[str, Any]:
    """The fields kept beside the example: those asked for, or the default ones that no role took (a field the
    example holds itself, such as sharegpt's `system`, is the example's)."""
    if opts.keep is not None:
        return {n: row.get(n) for n in opts.keep}
    return {n: row[n] for n in KEEP_BY_DEFAULT if n in row and n not in mapped}


def _examples(row: dict[str, Any], location: str, opts: ExportOptions, pairs: PairMaker | None) -> list[Made]:
    """The records one row makes: one example, or its preference pairs (none yet for a scored row)."""
    if pairs is not None:
        return pairs.row(row, location)
    if row.get("rejected") is not None and "rejected" not in (opts.keep or ()):  # never drop a side silently
        raise RowError(
            f"a preference row: --format {opts.formatting.format} has no place for its 'rejected' side (use "
            "--format dpo for pairs, or --keep-fields rejected to export one side and keep the other beside it)"
        )
    conv = conversation(row, opts.formatting)
    return [(conv.first_user, to_record(conv, opts.formatting), row)]


def _split_key(row: dict[str, Any], question: str, key: str) -> str:
    if key == QUESTION:
        return normalize(question)  # the dedup stage's: one problem, one key, whatever its spacing or case
    if row.get(key) is None:
        raise RowError(f"no split key: field {key!r} missing")
    return key_text(row[key])


def _named_fields(opts: ExportOptions) -> list[tuple[str, str]]:
    """(flag, field) of every field a flag names that the data must have."""
    split = opts.split
    named = [("--split-key", split.key)] if split.key != QUESTION else []
    named += [("--val-stratify", split.stratify)] if split.stratify else []
    return named + [("--keep-fields", n) for n in opts.keep or ()]


def _check_fields(sources: list[SourceFile], opts: ExportOptions, seen: set[str], strata: list[str]) -> None:
    """A field a flag names that no row has is a typo, and a stratum per row is a continuous field: errors."""
    files = ", ".join(s.rel for s in sources)
    for flag, name in _named_fields(opts):
        if name not in seen:
            raise InputError(f"{flag} {name}: no row of {files} has a field {name!r}")
    split, distinct = opts.split, len(set(strata))
    if split.stratify and distinct > len(strata) / 2:
        raise InputError(
            f"--val-stratify {split.stratify}: {distinct:,} distinct values in {len(strata):,} rows of "
            f"{files} (a continuous field?); bin it into a few values first"
        )


def _rows(sources: list[SourceFile]) -> Any:
    for src in sources:
        index = 0
        for table in read_tables(src.path, src.fmt):
            for row in table.to_pylist():
                yield src, index, row
                index += 1


def export_config(root: Path, config: str, sources: list[SourceFile], opts: ExportOptions) -> ExportResult:
    """The formatted rows are staged as JSONL (a hidden scratch folder), then written split by split."""
    staging = root / STAGING / f"{config}.export.jsonl"
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _export(root, config, sources, opts, staging)
    finally:
        shutil.rmtree(root / STAGING, ignore_errors=True)


def _export(root: Path, config: str, sources: list[SourceFile], opts: ExportOptions, staging: Path) -> ExportResult:
    result = ExportResult(config)
    pairs = PairMaker(opts.formatting, opts.pairs) if opts.formatting.format == "dpo" else None
    mapped = opts.formatting.fields.mapped()
    keys, strata, lengths = [], [], []
    named = {name for _, name in _named_fields(opts)}
    seen: set[str] = set()  # the fields flags name that some row has
    with (
        open(staging, "wb") as out,
        atomic_path(rejects_path(root, config)) as rejects_tmp,
        open(rejects_tmp, "wb") as rejects,
    ):

        def reject(location: str, reason: str, record: dict[str, Any]) -> None:
            result.reasons[reason] += 1
            rejects.write(dumps_line({"location": location, "reason": reason, "record": record}))

        def write(made: list[Made]) -> None:
            for question, example, row in made:
                record = {**example, **{k: v for k, v in _kept(row, opts, mapped).items() if k not in example}}
                keys.append(_split_key(row, question, opts.split.key))
                if opts.split.stratify:
                    strata.append(key_text(row.get(opts.split.stratify)))
                lengths.append(len(assistant_text(record)))
                result.columns.update(k for k, v in record.items() if v is not None)
                out.write(dumps_line(record))

        for src, index, row in tqdm(_rows(sources), desc=f"exporting {config}", unit="row", file=sys.stderr):
            result.rows_in += 1
            seen.update(n for n in named if row.get(n) is not None)
            location = f"{src.rel}: row {index}"
            try:
                made = _examples(row, location, opts, pairs)
                for question, _, _ in made:
                    _split_key(row, question, opts.split.key)  # a row without its split key: rejected whole
            except RowError as exc:
                reject(location, str(exc), row)
                continue
            write(made)
        if pairs is not None:
            made, unpaired = pairs.finish()
            for location, reason, record in unpaired:
                reject(location, reason, record)
            write(made)
    result.rejects_file = rejects_path(root, config).name if result.rejects else None
    if not result.rejects:
        rejects_path(root, config).unlink()
    folder = root / DATA_DIR / config
    if not result.rows_in:  # nothing to publish: reported as empty, and the config is left off the card
        shutil.rmtree(folder, ignore_errors=True)
        return result
    _check_fields(sources, opts, seen, strata)
    if not keys:
        raise InputError(
            f"config {config!r}: none of its {result.rows_in:,} rows could be exported "
            f"(see {rejects_path(root, config)}): {dict(result.reasons)}"
        )
    result.lengths = np.asarray(lengths)
    validation = validation_mask(keys, strata if opts.split.stratify else None, opts.split)
    if validation.all():
        raise InputError(
            f"config {config!r}: the validation split would take all {len(keys):,} exported rows; "
            "give a smaller --val-size or --val-fraction"
        )
    if opts.split.wanted and not validation.any():
        raise InputError(
            f"config {config!r}: the validation split would be empty ({len(keys):,} exported rows, "
            f"{len(set(keys)):,} split keys); give a larger --val-size or --val-fraction"
        )
    for name, want in ((TRAIN, False), (VALIDATION, True)):
        rows = int((validation == want).sum())
        if rows:
            path = folder / f"{name}.parquet"
            write_lines(
                path, lambda want=want: (line for line, v in zip(_lines(staging), validation, strict=True) if v == want)
            )
            result.splits[name], result.files[name] = rows, path.relative_to(root).as_posix()
    for stale in folder.rglob("*.parquet"):
        if stale.relative_to(root).as_posix() not in result.files.values():
            stale.unlink()
    return result


def _lines(path: Path) -> Any:
    with open(path, "rb") as fh:
        yield from fh
