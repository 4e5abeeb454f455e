"""Clean rows before anything else: Gopher quality and repetition rules (counting Chinese by character),
language ID, PII masking and toxicity screening.

Thresholds start from a preset (sft, the default, or gopher: the paper's); --config FILE.yaml sets any
setting, and the flags (--preset, --rule NAME=VALUE, --languages, --pii, --toxicity, ...) override it.
Dropped rows go to <output>.rejects.jsonl with the first filter that fired and its value; the summary
counts the rows each filter dropped and would have dropped, and <output stem>.filters.png draws them.
--dry-run-report counts and writes no row, to tune thresholds. See docs/stages/clean.md for every rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sftkit import cli, report
from sftkit.clean import config as clean_config
from sftkit.clean.cleaner import Cleaner
from sftkit.data.sources import open_source
from sftkit.errors import InputError
from sftkit.runner.stage import check_fields, run_stage

STAGE = "clean"
LATER_FILTERS = ("language", "language_score", "toxicity", "toxicity_model", "pii")  # after the rules, in order


def _list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p)
    cli.add_field_args(p)
    g = p.add_argument_group("filters")
    cli.add(g, "--config", help="YAML file: preset, rules (NAME: number or off), fields, languages, pii, toxicity ...")
    cli.add(g, "--preset", choices=clean_config.PRESETS, help="thresholds: sft (default) or gopher (the paper's)")
    cli.add(g, "--rule", action="append", help="NAME=VALUE, repeatable: set one rule's threshold, 'off' to turn it off")
    cli.add(
        g,
        "--fields",
        type=_list,
        help="comma-separated fields checked (default: --question-field and --answer-field)",
    )
    cli.add(g, "--languages", type=_list, help="keep rows in these languages, e.g. en,zh (default: any)")
    cli.add(g, "--min-language-score", type=float, help="with --languages: the least probability of the language")
    cli.add(g, "--pii", choices=clean_config.PII_MODES, help="mask: replace with <KIND>; drop the row; flag it")
    cli.add(g, "--pii-private-ips", action="store_true", default=None, help="mask private and reserved IPs too")
    cli.add(g, "--toxicity", choices=clean_config.TOXICITY_MODES, help="word list (en, zh): flag or drop rows")
    cli.add(g, "--toxicity-model", help="a sequence-classification model (path) scoring each row")
    cli.add(g, "--toxicity-threshold", type=float, help="with --toxicity-model: the score that drops (default 0.5)")
    cli.add(g, "--dry-run-report", action="store_true", help="count what each filter would drop; write no row")
    o = p.add_argument_group("output")
    cli.add(o, "--output", env=True, required=True, help=".jsonl, .json or .parquet; parts go to <output>.parts/")
    cli.add(
        o, "--save-per-iteration", type=int, default=50_000, dest="checkpoint_every", help="checkpoint every N rows"
    )
    cli.add_shard_args(p)
    return p


def resolve(args: argparse.Namespace) -> tuple[clean_config.CleanConfig, tuple[str, ...]]:
    """The config and fields: preset, then the file, then the flags."""
    file: dict[str, Any] = clean_config.load_file(args.config) if args.config else {}
    rules = dict(file.get("rules") or {})
    rules.update(clean_config.parse_rule(r) for r in args.rule or [])
    options = {k: file.get(k) for k in file if k not in ("rules", "fields", "preset")}
    for key in ("languages", "min_language_score", "pii", "pii_private_ips", "toxicity", "toxicity_model"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.toxicity_threshold is not None:
        options["toxicity_threshold"] = args.toxicity_threshold
    try:
        config = clean_config.build(args.preset or file.get("preset") or "sft", rules, **options)
    except TypeError as exc:
        raise InputError(f"--config {args.config}: {exc}") from None
    fields = tuple(args.fields or file.get("fields") or [args.question_field, args.answer_field])
    return config, fields


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config, fields = resolve(args)
    output = args.output
    if args.dry_run_report:  # its own file: a dry run never takes the place of, or resumes, a real one
        out = Path(output)
        output = str(out.with_name(f"{out.stem}.dry-run.jsonl"))
    cli.check_writable(output)
    spec = cli.input_spec(args)
    shard = cli.shard_of(args)
    source = open_source(spec)
    check_fields(source, shard, {f: "--fields" for f in fields})
    cleaner = Cleaner(config, fields, args.id_field, args.dry_run_report)
    run = run_stage(
        stage=STAGE,
        source=source,
        shard=shard,
        output=output,
        settings={
            "input": spec.__dict__,
            "fields": list(fields),
            "config": config.__dict__,
            "dry_run": args.dry_run_report,
        },
        process=cleaner,
        every=args.checkpoint_every,
        batch_size=args.batch_size,
        on_bad_record=args.on_bad_record,
        overwrite=args.overwrite,
        id_field=args.id_field,
        filter_plot={"title": "clean", "png": "filters", "order": [*clean_config.RULES, *LATER_FILTERS]},
    )
    counts = run.marker["counts"]
    names = sorted({k.split(":", 1)[1] for k in counts if k.startswith("would_drop:")}, key=_order)
    report.print_table(
        f"clean: {run.marker['shard']} (rows {run.marker['rows'][0]:,}-{run.marker['rows'][1]:,})"
        + (" - dry run, no row written" if args.dry_run_report else ""),
        ["filter", "dropped (first to fire)", "would drop (fired)"],
        [("rows read", counts.get("rows", 0), ""), ("kept", counts.get("kept", 0), "")]
        + [(n, counts.get(f"dropped:{n}", 0), counts.get(f"would_drop:{n}", 0)) for n in names]
        + [
            (f"PII {k.removeprefix('pii:')} ({config.pii})", "", v)
            for k, v in sorted(counts.items())
            if k.startswith("pii:")
        ]
        + [("bad rows (quarantined)", counts.get("bad_row", 0), "")],
    )
    if run.merged:
        report.print_summary(
            "output",
            {
                "records": run.merged["records"],
                "file": output,
                "rejects": run.merged["rejects_file"] or "none",
                "stats": f"{output}.stats.json",
                "filters plot": run.merged.get("filter_png", "none"),
            },
        )
    else:
        print(
            f"part written to {Path(output + '.parts')}; when every shard is done run:\n"
            f"  python hpc/merge_shards.py --output {output}",
            file=sys.stderr,
        )
    return 0


def _order(name: str) -> int:
    """Filters in the order they run: the rules, then language, toxicity and PII."""
    order = [*clean_config.RULES, *LATER_FILTERS]
    return order.index(name) if name in order else len(order)
