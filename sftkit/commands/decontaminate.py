"""Remove (or flag) rows whose text overlaps a benchmark the model will be judged on.

A row is contaminated when any word n-gram of its normalized --text-field (default 8 words,
--ngram) appears in a benchmark problem; each text field is matched on its own. A text shorter
than n words matches only a benchmark problem that is the same text, and a benchmark problem shorter
than n words matches a text it appears in whole. --minhash also catches rewordings of texts of 16
words or more: a shared LSH band and an exact word 2-gram Jaccard >= --threshold (default 0.4).
--mode drop writes the clean rows, --mode flag every row with `contaminated: [benchmark names]`;
either way <output>.contaminated.jsonl lists each hit: row id, benchmark, item id, matching n-gram.
Each shard builds the (small) benchmark index itself; the merge writes the output in input order.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from sftkit import cli, report
from sftkit.commands.semdedup import add_embedding_args
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.merge import checked_parts, merge_rejects, part_paths, read_lines
from sftkit.data.sources import open_source
from sftkit.data.writers import write_lines
from sftkit.decontaminate.index import (
    HITS_FIELD,
    MINHASH_MIN_WORDS,
    MINHASH_NGRAM,
    MINHASH_THRESHOLD,
    SHORTCUTS,
    BenchmarkIndex,
    BenchmarkSpec,
    Matcher,
)
from sftkit.decontaminate.semantic import SEMANTIC_THRESHOLD, SemanticMatcher, build_semantic_index
from sftkit.dedup.minhash import MinHasher, choose_bands
from sftkit.errors import InputError
from sftkit.runner.stage import run_stage
from sftkit.semdedup.embed import Embedder

STAGE = "decontaminate"


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, required=False)
    cli.add_field_args(p)
    g = p.add_argument_group("decontamination")
    cli.add(
        g,
        "--benchmark",
        action="append",
        default=[],
        help=f"repeatable: [NAME=] and a shortcut ({', '.join(SHORTCUTS)}) or ID_OR_PATH[[[:CONFIG]:SPLIT]:FIELD], "
        "e.g. HuggingFaceH4/MATH-500:test:problem or demo=data/benchmarks/demo_bench.jsonl:problem",
    )
    cli.add(g, "--text-field", action="append", help="row field(s) matched, repeatable; default --question-field")
    cli.add(g, "--ngram", type=int, default=8, help="words per n-gram")
    cli.add(g, "--normalize-numbers", action="store_true", help="treat every number as the same word")
    cli.add(g, "--minhash", action="store_true", help="also match rewordings by MinHash (verified Jaccard)")
    cli.add(
        g,
        "--threshold",
        type=float,
        help=f"with --minhash: word 2-gram Jaccard from which a text matches (default {MINHASH_THRESHOLD}); "
        f"with --semantic: embedding cosine (default {SEMANTIC_THRESHOLD})",
    )
    cli.add(
        g,
        "--semantic",
        action="store_true",
        help="also match paraphrases: cosine of the embeddings with the nearest benchmark problem",
    )
    add_embedding_args(g)
    cli.add(
        g,
        "--mode",
        choices=("drop", "flag"),
        default="drop",
        help="drop: write the clean rows; flag: every row, with contaminated: [benchmark names]",
    )
    cli.add_self_merging_output(
        p, output_help=".jsonl, .json or .parquet", merge_help="join the shards' parts of --output"
    )
    cli.add_shard_args(p)
    return p


def build_index(args: argparse.Namespace) -> BenchmarkIndex:
    if not args.benchmark:
        raise InputError("give at least one --benchmark")
    if args.ngram < 1 or not 0 < args.threshold <= 1:
        raise InputError("--ngram must be >= 1 and --threshold in (0, 1]")
    minhash = MinHasher(112, *choose_bands(args.threshold, 112)) if args.minhash else None
    index = BenchmarkIndex(args.ngram, args.normalize_numbers, minhash=minhash)
    sizes = {}
    for text in args.benchmark:
        spec = BenchmarkSpec.parse(text)
        if spec.name in sizes:
            raise InputError(
                f"--benchmark {text!r}: a benchmark named {spec.name!r} is given already; name them "
                f"apart with NAME=SPEC, e.g. --benchmark {spec.name}2=SPEC"
            )
        sizes[spec.name] = index.add(spec, args.on_bad_record)
    print("benchmarks: " + ", ".join(f"{k} ({v:,} problems)" for k, v in sizes.items()), file=sys.stderr)
    return index


def merge_decontaminated(args: argparse.Namespace, started: float) -> dict[str, Any]:
    """Output rows in input order (clean ones, or all flagged) and the hits file, from the parts."""
    output, hits_path = Path(args.output), Path(f"{args.output}.contaminated.jsonl")
    with checked_parts(output, args.num_shards) as markers:
        found = (markers[0].get("settings") or {}).get("mode")
        if found != args.mode:
            raise InputError(f"{output}: the parts were made with --mode {found}; merge with the same flags")
        parts = part_paths(markers)

        def rows() -> Any:
            for line in read_lines(parts):
                record = orjson.loads(line)
                yield record, record.pop(HITS_FIELD)

        def kept() -> Any:
            for record, _ in rows():
                if args.mode == "flag" or not record.pop("contaminated"):
                    yield dumps_line(record)

        count = write_lines(output, kept)
        write_lines(hits_path, lambda: (dumps_line({"id": r.get(args.id_field), **h}) for r, hs in rows() for h in hs))
        rejects_out = merge_rejects(output, parts)
    counts: Counter = Counter()
    for m in markers:
        counts.update(m["counts"])
    per_benchmark = {k.removeprefix("hit:"): v for k, v in sorted(counts.items()) if k.startswith("hit:")}
    stats = {
        "stage": STAGE,
        "output": str(output),
        "mode": args.mode,
        "rows_in": counts["rows"],
        "rows_checked": sum(m["records"] for m in markers),
        "contaminated": counts["contaminated"],
        "per_benchmark": per_benchmark,
        "written": count,
        "rejects": sum(m["rejects"] for m in markers),
        "rejects_file": str(rejects_out) if rejects_out else None,
        "hits_file": str(hits_path),
        "settings": markers[0].get("settings"),
        "merge_seconds": round(time.time() - started, 3),
    }
    write_json_atomic(f"{output}.stats.json", stats)
    report.print_table("contaminated rows per benchmark", ["benchmark", "rows"], list(per_benchmark.items()))
    report.print_summary(
        f"decontaminate ({args.mode})",
        {
            "rows in": stats["rows_in"],
            "quarantined": stats["rejects"],
            "contaminated": stats["contaminated"],
            "written": count,
            "output": str(output),
            "hits": str(hits_path),
        },
    )
    return stats


def semantic_matcher(args: argparse.Namespace, matcher: Matcher) -> SemanticMatcher | Matcher:
    """--semantic: the n-gram matcher, then the nearest benchmark problem by embedding cosine."""
    if not args.semantic:
        return matcher
    embedder = Embedder.from_args(args.embedding_model, args.embedding_backend, args.embeddings_field)
    return SemanticMatcher(matcher, build_semantic_index(args.benchmark, embedder, args.on_bad_record), args.threshold)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    if args.semantic and args.minhash:
        raise InputError("give --minhash or --semantic: --threshold means a Jaccard for one, a cosine for the other")
    if args.threshold is None:
        args.threshold = SEMANTIC_THRESHOLD if args.semantic else MINHASH_THRESHOLD
    started = time.time()
    if not args.merge:
        if not args.input:
            raise InputError("--input is required (or --merge after sharded runs)")
        index = build_index(args)
        spec, shard = cli.input_spec(args), cli.shard_of(args)
        fields = tuple(args.text_field or [args.question_field])
        settings = {
            "input": spec.__dict__,
            "benchmarks": index.identity,
            "fields": list(fields),
            "ngram": args.ngram,
            "normalize_numbers": args.normalize_numbers,
            "mode": args.mode,
            "minhash": {"threshold": args.threshold, "ngram": MINHASH_NGRAM, "min_words": MINHASH_MIN_WORDS}
            if args.minhash
            else None,
            **(
                {
                    "semantic": {
                        "threshold": args.threshold,
                        "embedder": [args.embedding_model, args.embedding_backend, args.embeddings_field],
                    }
                }
                if args.semantic
                else {}
            ),
        }
        run_stage(
            stage=STAGE,
            source=open_source(spec),
            shard=shard,
            output=args.output,
            settings=settings,
            process=semantic_matcher(args, Matcher(index, fields, args.id_field, args.threshold)),
            every=args.checkpoint_every,
            batch_size=args.batch_size,
            on_bad_record=args.on_bad_record,
            overwrite=args.overwrite,
            merge_whole=False,
            id_field=args.id_field,
        )
        if not shard.is_whole:
            print(
                f"part written; after every shard: python selectors/decontaminate.py --merge --output {args.output}"
                " (with the same flags)",
                file=sys.stderr,
            )
            return 0
    merge_decontaminated(args, started)
    return 0
