"""Remove exact and near duplicates: one row per cluster survives, every removed row is audited.

Per shard: the normalized text of --text-field (NFKC, case, invisible characters, whitespace; numbers
kept unless --normalize-numbers) is hashed exactly, and MinHashed over word n-grams (character n-grams
in Chinese, Japanese, Thai, ...); signatures and LSH band hashes go beside the shard's part
(<output>.parts/part-*.{exact,signature,bands}.npy). Unless --normalize-numbers, rows whose numbers
differ never share a band, so they are never near duplicates.
The merge (--merge, or at once without shards) pairs rows with an equal exact hash or an equal band,
keeps a candidate pair when its Jaccard (estimated from the signatures, or exact under --verify)
reaches --threshold, clusters the pairs, keeps one row per cluster (the first in input order, or
the best under --keep-by), and writes the kept rows in input order. --against removes rows that
duplicate a reference set, which itself is never deduplicated. The audit of every removed row goes
to <output>.dups.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sftkit import cli
from sftkit.data.sources import InputSpec, open_source
from sftkit.dedup.merge import merge_dedup
from sftkit.dedup.minhash import MinHasher, choose_bands
from sftkit.dedup.rows import KeepBy, RowHasher
from sftkit.errors import InputError
from sftkit.runner.stage import run_stage

STAGE = "dedup"
CHAR_NGRAM = 5  # measured on planted Chinese pairs (bench/dedup_quality.py, docs/stages/dedup.md)


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, required=False)
    cli.add_field_args(p)
    g = p.add_argument_group("deduplication")
    cli.add(
        g,
        "--text-field",
        action="append",
        help="field(s) compared, repeatable (e.g. the question and the answer together); default --question-field",
    )
    cli.add(
        g,
        "--normalize-numbers",
        action="store_true",
        help="treat every number as the same word (default: problems differing only in numbers differ)",
    )
    cli.add(g, "--threshold", type=float, default=0.8, help="Jaccard index from which two rows are duplicates")
    cli.add(g, "--ngram", type=int, default=3, help="words per n-gram (in scripts written with spaces)")
    cli.add(
        g,
        "--char-ngram",
        type=int,
        default=CHAR_NGRAM,
        help="characters per n-gram in scripts written without spaces (Chinese, Japanese, Thai, ...)",
    )
    cli.add(g, "--num-perm", type=int, default=112, help="MinHash permutations")
    cli.add(g, "--bands", type=int, help="LSH bands (default: chosen for --threshold, see docs/stages/dedup.md)")
    cli.add(g, "--rows", type=int, help="rows per band (default: chosen with --bands)")
    cli.add(g, "--seed", type=int, default=1, help="MinHash permutations' seed")
    cli.add(
        g,
        "--verify",
        action="store_true",
        help="check each candidate pair's exact n-gram Jaccard before merging it (no banding false positive)",
    )
    cli.add(
        g,
        "--keep-by",
        help="FIELD:asc|desc or FIELD:number|length:asc|desc: the row a cluster keeps "
        "(default: the first in input order), e.g. generated_solution:length:desc",
    )
    a = p.add_argument_group("reference set")
    cli.add(
        a,
        "--against",
        help="file, folder, glob or Hub id: remove rows that duplicate its rows (it is not "
        "deduplicated itself); read with the same --text-field and --id-field",
    )
    cli.add(a, "--against-config", help="Hub configuration of --against")
    cli.add(a, "--against-split", default="train", help="Hub split of --against")
    cli.add_self_merging_output(
        p,
        output_help="kept rows: .jsonl, .json or .parquet",
        merge_help="cluster the shards' parts of --output and write it",
    )
    cli.add_shard_args(p)
    return p


def row_hasher(args: argparse.Namespace) -> RowHasher:
    """The per-row computation the arguments ask for; a bad flag is one line."""
    if not 0 < args.threshold <= 1:
        raise InputError("--threshold must be in (0, 1]")
    if args.ngram < 1 or args.char_ngram < 1 or args.num_perm < 1:
        raise InputError("--ngram, --char-ngram and --num-perm must be >= 1")
    if (args.bands is None) != (args.rows is None):
        raise InputError("give both --bands and --rows, or neither")
    bands, rows = (args.bands, args.rows) if args.bands else choose_bands(args.threshold, args.num_perm)
    try:
        minhash = MinHasher(args.num_perm, bands, rows, args.seed)
        keep_by = KeepBy.parse(args.keep_by) if args.keep_by else None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return RowHasher(
        tuple(args.text_field or [args.question_field]),
        args.normalize_numbers,
        args.ngram,
        minhash,
        keep_by,
        args.id_field,
        args.char_ngram,
    )


def settings_of(hasher: RowHasher) -> dict[str, Any]:
    """What changes the arrays a shard writes (the threshold, --verify and --against act in the merge)."""
    m = hasher.minhash
    return {
        "fields": list(hasher.fields),
        "normalize_numbers": hasher.numbers,
        "ngram": hasher.n,
        "char_ngram": hasher.chars,
        "num_perm": m.num_perm,
        "bands": m.bands,
        "rows": m.rows,
        "seed": m.seed,
        "keep_by": hasher.keep_by.__dict__ if hasher.keep_by else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    hasher = row_hasher(args)
    against = InputSpec(args.against, args.against_config, args.against_split) if args.against else None
    if not args.merge:
        if not args.input:
            raise InputError("--input is required (or --merge after sharded runs)")
        shard = cli.shard_of(args)
        spec = cli.input_spec(args)
        started = time.time()
        run = run_stage(
            stage=STAGE,
            source=open_source(spec),
            shard=shard,
            output=args.output,
            settings={"input": spec.__dict__, "dedup": settings_of(hasher)},
            process=hasher,
            every=args.checkpoint_every,
            batch_size=args.batch_size,
            on_bad_record=args.on_bad_record,
            overwrite=args.overwrite,
            merge_whole=False,
            id_field=args.id_field,
        )
        m = run.marker
        print(
            f"{shard.name}: {m['records']:,} rows hashed, {m['rejects']:,} quarantined ({time.time() - started:.1f} s)",
            file=sys.stderr,
        )
        if not shard.is_whole:
            print(
                f"part written; after every shard: python selectors/dedup.py --merge --output {args.output} "
                "(with the same dedup flags)",
                file=sys.stderr,
            )
            return 0
    merge_dedup(
        args.output,
        args.num_shards,
        hasher,
        threshold=args.threshold,
        verify=args.verify,
        against=against,
        expected=settings_of(hasher),
    )
    return 0
