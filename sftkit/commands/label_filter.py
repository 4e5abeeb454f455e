"""Keep rows whose precomputed pass rate is in [--min-pass-rate, --filter-by-pass-rate].

The output is sorted globally: pass rate ascending (hardest first), then solution length
descending. Rows are processed in checkpointed chunks of --save-per-iteration input rows, so a
killed run resumes after its last complete chunk, and the last partial chunk is always saved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftkit import cli, report
from sftkit.data.sources import open_source
from sftkit.errors import InputError
from sftkit.runner.stage import run_stage
from sftkit.select.label_filter import PassRateFilter

STAGE = "label_filter"
EXTRACTED = "has_answer_extracted"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, default_input="nvidia/OpenMathReasoning", default_split="cot")
    cli.add_field_args(p)
    g = p.add_argument_group("filter")
    cli.add(
        g,
        "--filter-by-pass-rate",
        type=float,
        default=0.1,
        dest="max_pass_rate",
        help="keep rows with pass rate <= this (lower = harder)",
    )
    cli.add(g, "--min-pass-rate", type=float, default=0.0, help="keep rows with pass rate >= this")
    cli.add(g, "--pass-rate-field", default="pass_rate_72b_tir")
    cli.add(
        g,
        "--problem-type",
        help=f"keep only this problem type; by default rows whose --problem-type-field "
        f"is set must be {EXTRACTED!r} (only those have an answer to check later) and rows without one pass; "
        "'any' keeps every type",
    )
    cli.add(g, "--problem-type-field", default="problem_type")
    o = p.add_argument_group("output")
    cli.add(
        o,
        "--output",
        env=True,
        default="results/filtered_dataset/filtered.jsonl",
        help=".jsonl, .json or .parquet; parts of a sharded run go to <output>.parts/",
    )
    cli.add(
        o,
        "--save-per-iteration",
        type=int,
        default=10_000,
        dest="checkpoint_every",
        help="checkpoint every N input rows",
    )
    cli.add_shard_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    if not 0 <= args.min_pass_rate <= args.max_pass_rate <= 1:
        raise InputError("need 0 <= --min-pass-rate <= --filter-by-pass-rate <= 1")
    spec = cli.input_spec(args)
    shard = cli.shard_of(args)
    source = open_source(spec)
    keep = PassRateFilter(
        args.pass_rate_field,
        args.max_pass_rate,
        args.min_pass_rate,
        args.solution_field,
        args.id_field,
        None if args.problem_type == "any" else args.problem_type or EXTRACTED,
        args.problem_type_field,
        problem_type_required=args.problem_type is not None,
    )
    settings = {"input": spec.__dict__, "filter": keep.__dict__}  # --on-bad-record may change on a rerun
    run = run_stage(
        stage=STAGE,
        source=source,
        shard=shard,
        output=args.output,
        settings=settings,
        process=keep,
        every=args.checkpoint_every,
        batch_size=args.batch_size,
        on_bad_record=args.on_bad_record,
        sort=keep.sort_spec(),
        overwrite=args.overwrite,
        id_field=args.id_field,
        pass_rates={
            "field": args.pass_rate_field,
            "band": [args.min_pass_rate, args.max_pass_rate],
            "without": {"no_label": "no label", "other_problem_type": "other problem type", "bad_label": "bad label"},
        },
    )
    counts = run.marker["counts"]
    rows = [
        (name, counts.get(key, 0))
        for key, name in (
            ("rows", "rows read"),
            ("kept", "kept"),
            ("no_label", "no label ('n/a')"),
            ("above_max", f"pass rate > {args.max_pass_rate:g}"),
            ("below_min", f"pass rate < {args.min_pass_rate:g}"),
            ("other_problem_type", "other problem type"),
            ("bad_label", "bad label (quarantined)"),
        )
    ]
    rows.append(("unreadable rows (quarantined)", run.marker["rejects"] - counts.get("bad_label", 0)))
    report.print_table(
        f"label filter: {run.marker['shard']} (rows {run.marker['rows'][0]:,}-{run.marker['rows'][1]:,})",
        ["", "rows"],
        rows,
    )
    if run.merged:
        report.print_summary(
            "output",
            {
                "records": run.merged["records"],
                "file": args.output,
                "rejects": run.merged["rejects_file"] or "none",
                "stats": f"{args.output}.stats.json",
                "pass rates plot": run.merged.get("pass_rate_png", "none (parts from an older version)"),
            },
        )
    else:
        print(
            f"part written to {Path(str(args.output) + '.parts')}; when every shard is done run:\n"
            f"  python hpc/merge_shards.py --output {args.output}",
            file=sys.stderr,
        )
    return 0
