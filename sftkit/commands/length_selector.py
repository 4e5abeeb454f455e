"""Pick --total_samples rows favouring long answers, with a half-Gaussian weight over length bins.

Bins: B = --num_bins bins cut at the 1/B, ..., (B-1)/B quantiles of the answer lengths (from all
rows, or from a uniform sample of --sample_size_for_stats rows); the first and last bins are
open-ended, so outliers are kept.

Weights: bin b (0 = shortest, B-1 = longest) gets
    w_b = exp(-0.5 * (s * (B-1-b) / (B-1))^2),   s = --curve_sharpness
so the longest bin gets the most; s=1 is gentle, 2 standard, 4 sharp. Quotas are w_b / sum(w)
times the total, rounded by largest remainder so they sum exactly to --total_samples; a bin with
too few rows hands its surplus to its nearest neighbours (the longer one first).

Within a bin every row has the same chance, wherever it sits in the stream; --seed fixes the draw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sftkit import cli, report
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.batch import Batch
from sftkit.data.sources import open_source
from sftkit.data.writers import output_format, write_lines
from sftkit.errors import InputError
from sftkit.select.length import Measure, select_by_length

STAGE = "length_selector"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p)
    cli.add_field_args(p, answer=None)
    g = p.add_argument_group("selection")
    cli.add(
        g,
        "--length-field",
        help="field whose length is measured; default: --answer_field if given, else --solution_field",
    )
    cli.add(g, "--total-samples", type=int, default=5000)
    cli.add(g, "--num-bins", type=int, default=6)
    cli.add(g, "--curve-sharpness", type=float, default=2.0, help="s in the weight formula above")
    cli.add(
        g,
        "--sample-size-for-stats",
        type=int,
        default=0,
        help="cut bins from a uniform sample of this many lengths (0 = all rows, exact)",
    )
    cli.add(g, "--shuffle", action="store_true", help="write the selected rows in random order (default: source order)")
    cli.add(g, "--seed", type=int, default=42)
    cli.add(g, "--length-unit", choices=("chars", "tokens"), default="chars")
    cli.add(g, "--tokenizer", help="tokenizer folder or Hub id, for --length-unit tokens")
    cli.add(p, "--output", env=True, default="results/length_selected.json", help=".json, .jsonl or .parquet")
    return p


def char_measure(field: str) -> Measure:
    return lambda batch: batch.char_lengths(field)


def token_measure(field: str, tokenizer_path: str) -> Measure:
    from transformers import AutoTokenizer

    from sftkit.engines.hub import model_files

    with model_files(tokenizer_path, "tokenizer_config.json", " (--tokenizer)", " --include '*.json' '*.model'"):
        tok = AutoTokenizer.from_pretrained(tokenizer_path)

    def measure(batch: Batch) -> np.ndarray:
        chars = batch.char_lengths(field)
        texts = batch.values(field)
        ok = [i for i, n in enumerate(chars) if n > 0]
        out = np.full(len(batch), -1, dtype=np.int64)
        if ok:
            ids = tok([texts[i] for i in ok], add_special_tokens=False)["input_ids"]
            out[ok] = [len(x) for x in ids]
        return out

    return measure


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    output_format(args.output)
    field = args.length_field or args.answer_field or args.solution_field
    flag = "--length-field" if args.length_field else "--answer-field" if args.answer_field else "--solution-field"
    if args.length_unit == "tokens" and not args.tokenizer:
        raise InputError("--length-unit tokens needs --tokenizer PATH")
    measure = token_measure(field, args.tokenizer) if args.length_unit == "tokens" else char_measure(field)
    source = open_source(cli.input_spec(args))

    def checked(batch: Batch) -> np.ndarray:
        batch.require({field: flag})
        return measure(batch)

    sel = select_by_length(
        source,
        checked,
        args.total_samples,
        args.num_bins,
        args.curve_sharpness,
        args.seed,
        args.id_field,
        args.on_bad_record,
        field,
        stats_sample=args.sample_size_for_stats,
        batch_size=args.batch_size,
        shuffle=args.shuffle,
    )
    out = Path(args.output)
    rejects_path = Path(f"{out}.rejects.jsonl")
    if sel.rejects:
        write_lines(rejects_path, lambda: (dumps_line(r.to_json()) for r in sel.rejects))
    if not len(sel.plan.lengths):
        why = f"{len(sel.rejects):,} rejected (see {rejects_path})" if sel.rejects else "none had a usable value"
        raise InputError(
            f"--input {args.input}: {sel.rows_seen:,} rows read, {why}; no {field!r} length to "
            f"select by, so {out} was not written"
        )
    write_lines(args.output, lambda: (dumps_line(r) for r in sel.records))
    plan = sel.plan
    bounds = [0.0, *plan.edges.tolist(), float("inf")]
    selected_per_bin = np.bincount(
        np.searchsorted(plan.edges, plan.selected_lengths, side="right"), minlength=len(plan.quotas)
    )
    bins = [
        {
            "bin": b,
            "from": bounds[b],
            "to": bounds[b + 1],
            "available": int(plan.available[b]),
            "quota": int(plan.quotas[b]),
            "selected": int(selected_per_bin[b]),
        }
        for b in range(len(plan.quotas))
    ]
    plot = report.histogram_png(
        out.with_name(out.stem + ".lengths.png"),
        {"available": plan.lengths, "selected": plan.selected_lengths},
        f"{field} length ({args.length_unit}): {len(sel.records):,} of {len(plan.lengths):,} rows",
        f"length ({args.length_unit})",
        plan.edges,
    )
    stats = {
        "stage": STAGE,
        "input": args.input,
        "field": field,
        "unit": args.length_unit,
        "total_samples": args.total_samples,
        "num_bins": args.num_bins,
        "curve_sharpness": args.curve_sharpness,
        "seed": args.seed,
        "rows_read": sel.rows_seen,
        "valid_rows": len(plan.lengths),
        "rejects": len(sel.rejects),
        "selected": len(sel.records),
        "second_pass_rows": sel.second_pass,
        "seconds": round(sel.seconds, 3),
        "bins": bins,
    }
    write_json_atomic(f"{out}.stats.json", stats)
    report.print_table(
        f"length bins ({args.length_unit} of {field!r})",
        ["bin", "length range", "available", "quota", "selected"],
        [(b["bin"], f"{b['from']:,.0f} - {b['to']:,.0f}", b["available"], b["quota"], b["selected"]) for b in bins],
    )
    report.print_summary(
        "length selector",
        {
            "rows read": sel.rows_seen,
            "rejected rows": len(sel.rejects),
            "selected": len(sel.records),
            "rows fetched in a 2nd pass": sel.second_pass,
            "seconds": round(sel.seconds, 2),
            "output": str(out),
            "histogram": str(plot),
            "rejects": str(rejects_path) if sel.rejects else "none",
        },
    )
    if len(sel.records) < args.total_samples:
        print(
            f"warning: only {len(plan.lengths):,} usable rows, fewer than --total_samples "
            f"{args.total_samples:,}; selected them all"
        )
    return 0
