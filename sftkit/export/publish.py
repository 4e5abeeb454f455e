"""Export every config of a dataset folder and describe the result: what upload_data.py --format and
export_sft.py share (the Parquet splits, the rendered check, LLaMA-Factory's dataset_info.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sftkit import report
from sftkit.data.atomic import write_json_atomic
from sftkit.export.build import ExportOptions, ExportResult, export_config
from sftkit.export.dataset_info import DATASET_INFO, FORMATS, dataset_info
from sftkit.export.layout import SourceFile
from sftkit.export.manifest import Manifest, forget_missing
from sftkit.export.options import split_rule
from sftkit.export.render import render_rows
from sftkit.export.splits import TRAIN, VALIDATION


def _drop_conversions(root: Path, configs: set[str]) -> None:
    """An earlier plain conversion's Parquet and manifest go: data/<config>/ holds only the export now."""
    manifest = Manifest(root)
    if manifest.path.exists():
        forget_missing(root, manifest, configs, set())
        manifest.path.unlink()


def export_all(
    root: Path, configs: dict[str, list[SourceFile]], opts: ExportOptions, tokenizer: str | None
) -> tuple[list[ExportResult], dict[str, str]]:
    """Each config exported to data/<config>/{train,validation}.parquet; with ``tokenizer``, the first rows of
    each rendered through its chat template (config -> the first rendering, for the card)."""
    _drop_conversions(root, set(configs))
    results = [export_config(root, name, sources, opts) for name, sources in configs.items()]
    rendered = {r.config: render_rows(tokenizer, r.first)[0] for r in results if tokenizer and r.first}
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
