"""Join the parts of a sharded stage, in order, into --output (.jsonl, .json or .parquet).

Refuses, naming the missing shards, while any shard is incomplete. Applies the global order the
stage recorded (e.g. the label filter's pass-rate sort) unless --sort-by or --no-sort is given.
Writes <output>.stats.json with counts and timings.
"""

from __future__ import annotations

import argparse

from sftkit import cli, registry, report
from sftkit.data.checkpoint import parts_dir
from sftkit.data.merge import load_markers, merge
from sftkit.errors import InputError


def _sort_key(text: str) -> dict[str, str]:
    field, _, rest = text.partition(":")
    key, _, order = rest.partition(":")
    if not field or key not in ("number", "length") or order not in ("asc", "desc", ""):
        raise InputError(f"--sort-by {text!r}: expected FIELD:number|length[:asc|desc]")
    return {"field": field, "key": key, "order": order or "asc"}


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--output", required=True, help="merged file; its parts are in <output>.parts/")
    cli.add(p, "--num-shards", type=int, help="expected shard count (default: from the parts)")
    cli.add(p, "--sort-by", action="append", help="FIELD:number|length[:asc|desc], repeatable")
    cli.add(p, "--no-sort", action="store_true", help="keep shard order even if the stage recorded a sort")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    sort = [] if args.no_sort else [_sort_key(s) for s in args.sort_by] if args.sort_by else None
    markers = load_markers(args.output) if parts_dir(args.output).is_dir() else []
    own = registry.STAGES.get(registry.ALIASES.get(markers[0]["stage"], markers[0]["stage"])) if markers else None
    if own and own.merges_itself:  # its merge is a global step (a fit, clusters), not a concatenation
        raise InputError(
            f"{args.output} comes from {markers[0]['stage']}: merge it with "
            f"python {own.script} --merge --output {args.output} (and the stage's flags)"
        )
    stats = merge(args.output, args.num_shards, sort)
    report.print_table(
        f"merged {stats['shards']} shards of {stats['stage']}: their counts added up",
        ["", "count"],
        sorted(stats["counts"].items()),
    )
    if "kept" in stats:  # a stage keeping some of its records (the filter): what the output file holds
        written = {"kept rows": stats["kept"], "file": args.output, "every row": stats["all_records_to"]}
    else:
        written = {"records": stats["records"], "file": args.output}
    report.print_summary(
        "output",
        {
            **written,
            "rows read": stats["rows_in"],
            "rejects": stats["rejects"],
            "stats": f"{args.output}.stats.json",
            "merge seconds": stats["merge_seconds"],
            **({"pass rates plot": stats["pass_rate_png"]} if "pass_rate_png" in stats else {}),
            **({"filters plot": stats["filter_png"]} if "filter_png" in stats else {}),
        },
    )
    return 0
