"""Turn stage outputs into a training-ready SFT dataset folder: a chat format, a stable validation split,
Parquet, and a full dataset card.

Input: one or more stage outputs (.jsonl, .json, .parquet); their question, solution, reasoning and answer
fields are found by the stages' own names unless --*-field names them; rows may also be whole conversations
(messages or ShareGPT, with tools and system prompts), and with --format dpo preference data (the filter's
samples, chosen/rejected transcripts, or scores). Output, in --output:
data/<config>/train.parquet and validation.parquet, README.md (the card), plots/, <config>.rejects.jsonl
(rows that cannot be examples, with the reason), and for sharegpt/alpaca/dpo LLaMA-Factory's
dataset_info.json. ``datasets.load_dataset(OUTPUT)`` loads it; TRL and LLaMA-Factory train on it as it
is. To publish stage outputs this way, put them in DIR/<config>/ and run upload_data.py --format.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sftkit import cli, report
from sftkit.data.atomic import write_bytes_atomic
from sftkit.errors import InputError
from sftkit.export.layout import SOURCE_SUFFIXES, SourceFile
from sftkit.export.options import add_export_args, export_options
from sftkit.export.publish import export_all, export_facts, split_globs
from sftkit.upload.card import CardExtras, build_card, check_license
from sftkit.upload.card_args import add_card_args, card_options
from sftkit.upload.plots import PLOTS_DIR, config_plots
from sftkit.upload.provenance import chain, trace
from sftkit.upload.summary import summarize


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--input", nargs="+", required=True, help="stage output file(s), read as one config")
    cli.add(p, "--output", required=True, help="the dataset folder to write")
    cli.add(p, "--config", default="default", help="config name in the card and under data/")
    cli.add(
        p,
        "--repo-id",
        help="USER/NAME the card's load_dataset snippets use (default: your-username/<output folder name>)",
    )
    add_card_args(p)
    add_export_args(p, format_required=True)
    return p


def _sources(config: str, inputs: list[str]) -> list[SourceFile]:
    sources = []
    for name in inputs:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"--input {name}: no such file")
        if path.suffix not in SOURCE_SUFFIXES:
            raise InputError(f"--input {name}: expected one of {', '.join(SOURCE_SUFFIXES)}")
        sources.append(SourceFile(config, path.absolute(), name, SOURCE_SUFFIXES[path.suffix], ""))
    return sources


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(Path(args.output) / "README.md")
    root = Path(args.output)
    repo_id = args.repo_id or f"your-username/{root.absolute().name}"
    opts = card_options(args, repo_id)
    check_license(opts, None)
    export = export_options(args)
    assert export is not None  # --format is required here
    sources = _sources(args.config, args.input)
    root.mkdir(parents=True, exist_ok=True)
    stats = [p for s in sources if (p := s.path.with_name(s.path.name + ".stats.json")).is_file()]
    extras = CardExtras(trace(stats, root))
    extras.chains = {args.config: chain(extras.provenance.stages)}
    results, extras.rendered = export_all(root, {args.config: sources}, export, args.tokenizer)
    extras.export = export_facts(results, export)
    globs = split_globs(results)
    summary = summarize(root, args.config, globs[args.config])
    if not summary.files:
        raise InputError(f"--input {' '.join(args.input)}: no rows; nothing to export")
    shutil.rmtree(root / PLOTS_DIR, ignore_errors=True)
    extras.plots[args.config] = config_plots(root, summary, results[0].lengths, "assistant text")
    card = build_card(root, [summary], globs, opts, extras, None)
    write_bytes_atomic(root / "README.md", str(card).encode())
    report.print_summary(
        f"training-ready dataset in {root}",
        {
            "format": export.formatting.format,
            **{f"{split} rows": n for split, n in summary.rows.items()},
            "rejected": results[0].rejects,
            "stages in the card": len(extras.provenance.stages),
            "source datasets": ", ".join(extras.provenance.source_datasets) or "-",
            "rendered with": args.tokenizer or "- (no --tokenizer)",
        },
    )
    return 0
