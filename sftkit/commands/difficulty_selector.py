"""Pick seed problems by difficulty from hpc/difficulty_scorer.py's --output, and join the scores back
to the full records of --input by id, so every original field is kept.

Items with a null ensemble_acc (no model answered them: accuracy unknown, not 0) or a null difficulty_z
are skipped and counted. Filters first, then at most one picker:
  --min-acc/--max-acc      keep ensemble_acc in a band, e.g. 0.1-0.9: neither trivial nor hopeless
  --quantile-range LO HI   keep difficulty_z between its LO and HI quantiles, e.g. 0.5 1 = the harder half
  --top-k K                the K hardest (highest difficulty_z)
  --total-samples N        N spread over --num-bins quantile bins of difficulty_z, weighted by --target:
                           uniform, hard (w_b = exp(-0.5 * (s * (B-1-b) / (B-1))^2), s = --curve-sharpness,
                           as in the length selector) or easy (the mirror); quotas sum exactly to N
Without --input the scored items themselves (id, question, answer, scores) are written.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from sftkit import cli, report
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.sources import InputSpec, open_source
from sftkit.data.writers import output_format, write_lines
from sftkit.errors import InputError, enforce_policy
from sftkit.select.difficulty import TARGETS, choose

STAGE = "difficulty_selector"

SCORE_FIELDS = ("ensemble_acc", "irt_beta", "irt_beta_se", "difficulty_z", "avg_logprob", "responses")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--scores", required=True, env=True, help="the difficulty scorer's --output")
    cli.add_input_args(p, required=False)
    cli.add_field_args(p)
    g = p.add_argument_group("selection")
    cli.add(g, "--min-acc", type=float, default=0.0, help="lowest ensemble accuracy kept")
    cli.add(g, "--max-acc", type=float, default=1.0, help="highest ensemble accuracy kept")
    cli.add(
        g,
        "--quantile-range",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="keep difficulty_z between these quantiles",
    )
    pick = g.add_mutually_exclusive_group()
    cli.add(pick, "--top-k", type=int, help="the K hardest items")
    cli.add(pick, "--total-samples", type=int, help="this many items over difficulty bins (see --target)")
    cli.add(g, "--num-bins", type=int, default=5)
    cli.add(g, "--target", choices=TARGETS, default="uniform", help="distribution over difficulty bins")
    cli.add(g, "--curve-sharpness", type=float, default=2.0, help="s for --target hard/easy")
    cli.add(g, "--seed", type=int, default=42)
    cli.add(p, "--output", env=True, default="results/difficulty_selected.jsonl", help=".jsonl, .json or .parquet")
    return p


def read_scores(path: str) -> list[dict[str, Any]]:
    source = open_source(InputSpec(path))
    items = [r for batch in source.iter_all(8192) for r in batch.records("id")]
    for field in ("ensemble_acc", "difficulty_z"):
        if items and field not in items[0]:
            raise InputError(f"--scores {path}: no field {field!r}; is it the difficulty scorer's --output?")
    seen: dict[Any, int] = {}
    for k, item in enumerate(items):
        if item["id"] in seen:
            raise InputError(
                f"--scores {path}: id {item['id']!r} appears at items {seen[item['id']]} and {k}; "
                "ids must be unique to join scores back"
            )
        seen[item["id"]] = k
    return items


def join(args: argparse.Namespace, chosen: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The full --input records of the chosen ids, in input order, with their scores added."""
    by_id = {item["id"]: item for item in chosen}
    found: dict[Any, dict[str, Any]] = {}
    rejects = []
    for batch in open_source(cli.input_spec(args)).iter_all(args.batch_size):
        rejects += enforce_policy(batch.rejects, args.on_bad_record)
        for rec in batch.records(args.id_field):
            key = rec[args.id_field]
            if key not in by_id:
                continue
            if key in found:
                raise InputError(f"--input {args.input}: id {key!r} appears twice; the join is ambiguous")
            found[key] = {**rec, **{f: by_id[key][f] for f in SCORE_FIELDS if f in by_id[key]}}
    missing = [i for i in by_id if i not in found]
    if missing:
        raise InputError(
            f"{len(missing):,} chosen ids are not in --input {args.input} (e.g. {missing[:3]}); were "
            "the scores made from another dataset, or with another --id-field?"
        )
    return list(found.values()), rejects


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    output_format(args.output)
    items = read_scores(args.scores)
    acc, z = (
        np.array([np.nan if i[f] is None else float(i[f]) for i in items], dtype=np.float64)
        for f in ("ensemble_acc", "difficulty_z")
    )
    unanswered = int(np.isnan(acc).sum())
    no_z = int((~np.isnan(acc) & np.isnan(z)).sum())
    choice = choose(
        acc,
        z,
        min_acc=args.min_acc,
        max_acc=args.max_acc,
        quantile_range=tuple(args.quantile_range) if args.quantile_range else None,
        top=args.top_k,
        total=args.total_samples,
        num_bins=args.num_bins,
        target=args.target,
        sharpness=args.curve_sharpness,
        seed=args.seed,
    )
    chosen = [items[k] for k in choice.chosen.tolist()]
    records, rejects = join(args, chosen) if args.input else (chosen, [])
    out = Path(args.output)
    write_lines(out, lambda: (dumps_line(r) for r in records))
    if rejects:
        write_lines(f"{out}.rejects.jsonl", lambda: (dumps_line(r.to_json()) for r in rejects))
    plot = report.histogram_png(
        out.with_name(out.stem + ".difficulty.png"),
        {"scored": z[np.isfinite(z)], "selected": z[choice.chosen]},
        f"difficulty_z: {len(records):,} of {len(items):,} items",
        "difficulty_z",
        log_x=False,
    )
    stats = {
        "stage": STAGE,
        "scores": args.scores,
        "input": args.input,
        "items": len(items),
        "unanswered": unanswered,
        "no_difficulty_z": no_z,
        "after_filters": choice.candidates,
        "selected": len(records),
        "rejects": len(rejects),
        "band": [args.min_acc, args.max_acc],
        "quantile_range": args.quantile_range,
        "top_k": args.top_k,
        "total_samples": args.total_samples,
        "target": args.target,
        "seed": args.seed,
        "bins": choice.bins,
    }
    write_json_atomic(f"{out}.stats.json", stats)
    if choice.bins:
        report.print_table(
            f"difficulty bins (target {args.target})",
            ["bin", "difficulty_z range", "weight", "available", "quota", "selected"],
            [
                (b["bin"], f"{b['from']:.2f} - {b['to']:.2f}", b["weight"], b["available"], b["quota"], b["selected"])
                for b in choice.bins
            ],
        )
    report.print_summary(
        "difficulty selector",
        {
            "scored items": len(items),
            "skipped: unanswered (accuracy unknown)": unanswered,
            "skipped: no difficulty_z": no_z,
            "after filters": choice.candidates,
            "selected": len(records),
            "mean accuracy of selected": float(acc[choice.chosen].mean()) if len(chosen) else float("nan"),
            "rejected input rows": len(rejects),
            "output": str(out),
            "histogram": str(plot),
        },
    )
    if args.total_samples and len(records) < args.total_samples:
        print(
            f"warning: only {choice.candidates:,} items passed the filters, fewer than --total-samples "
            f"{args.total_samples:,}; selected them all"
        )
    return 0
