"""Export every config of a dataset folder and describe the result: what upload_data.py --format and
export_sft.py share (the Parquet splits, the rendered check, LLaMA-Factory's dataset_info.json)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sftkit import report
from sftkit.data.atomic import write_json_atomic
from sftkit.errors import InputError
from sftkit.export.build import ExportOptions, ExportResult, export_config
from sftkit.export.dataset_info import DATASET_INFO, FORMATS, dataset_info
from sftkit.export.layout import DATA_DIR, SourceFile
from sftkit.export.manifest import Manifest, forget_missing
from sftkit.export.options import split_rule
from sftkit.export.render import Rendered, Template, check_rows
from sftkit.export.splits import TRAIN, VALIDATION


def _drop_conversions(root: Path, configs: set[str]) -> None:
    """An earlier plain conversion's Parquet and manifest go: data/<config>/ holds only the export now."""
    manifest = Manifest(root)
    if manifest.path.exists():
        forget_missing(root, manifest, configs, set())
        manifest.path.unlink()


def _written_rows(root: Path, result: ExportResult) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) of every row the export wrote, split by split in the order the card reads them: so the
    first is the card's example record."""
    for split, rel in result.files.items():
        k = 0
        for batch in pq.ParquetFile(root / rel).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield f"row {k} of config {result.config!r}, {split} split", row
                k += 1


def check_rendering(root: Path, results: list[ExportResult], template: Template) -> dict[str, Rendered]:
    """Every exported row through the chat template, its reasoning checked (config -> the first row and its
    rendering, for the card). A failure removes what the export wrote: nothing unchecked stays."""
    try:
        return {r.config: first for r in results if (first := check_rows(template, _written_rows(root, r)))}
    except InputError:
        for r in results:
            shutil.rmtree(root / DATA_DIR / r.config, ignore_errors=True)
        raise


def export_all(
    root: Path, configs: dict[str, list[SourceFile]], opts: ExportOptions, tokenizer: str | None
) -> tuple[list[ExportResult], dict[str, Rendered]]:
    """Each config exported to data/<config>/{train,validation}.parquet; with ``tokenizer``, every row checked
    through its chat template (config -> the first row rendered, for the card)."""
    template = Template(tokenizer) if tokenizer else None  # a tokenizer that cannot load stops before any export
    _drop_conversions(root, set(configs))
    results = [export_config(root, name, sources, opts) for name, sources in configs.items()]
    rendered = check_rendering(root, results, template) if template else {}
    fmt = opts.formatting.format
    info = root / DATASET_INFO
    if fmt in FORMATS:
        columns = set().union(*(r.columns for r in results))
        write_json_atomic(info, dataset_info(fmt, {r.config: r.files for r in results}, columns))
    else:
        info.unlink(missing_ok=True)
    report.print_table(
        f"export ({fmt}, reasoning {opts.formatting.reasoning})",
        ["config", "rows in", TRAIN, VALIDATION, "rejected", "rejects file"],
        [
            (r.config, r.rows_in, r.splits.get(TRAIN, 0), r.splits.get(VALIDATION, 0), r.rejects, r.rejects_file or "-")
            for r in results
        ],
    )
    return results, rendered


def export_facts(results: list[ExportResult], opts: ExportOptions) -> dict[str, Any]:
    """The export as the card tells it."""
    return {
        "format": opts.formatting.format,
        "reasoning": opts.formatting.reasoning,
        "split_rule": split_rule(opts),
        "configs": {
            r.config: {"rows_in": r.rows_in, "splits": r.splits, "rejects": r.rejects, "reasons": dict(r.reasons)}
            for r in results
        },
    }


def split_globs(results: list[ExportResult]) -> dict[str, dict[str, str]]:
    return {r.config: {split: Path(path).name for split, path in r.files.items()} for r in results}
