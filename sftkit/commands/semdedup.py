"""Remove meaning-level duplicates: rows whose embedding vectors have cosine >= --threshold.

Per shard: each row's unit vector, from --embedding-model (run by --embedding-backend: vllm's pooling
runner, sentence-transformers, or a model2vec static model on CPU) over its --text-field(s), or read
from --embeddings-field (precomputed), is stored as float16 beside the shard's part
(<output>.parts/part-*.embedding.npy). The merge (--merge, or at once without shards) partitions every
vector by k-means, compares each row with the rows of its --probe nearest clusters, joins the pairs at
or above the threshold into components, keeps one row per component (the first in input order, or the
best under --keep-by) and writes the kept rows in input order. Each removed row is audited in
<output>.dups.jsonl: id, duplicate_of, cosine.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sftkit import cli
from sftkit.data.sources import open_source
from sftkit.dedup.rows import KeepBy
from sftkit.errors import InputError
from sftkit.runner.stage import run_stage
from sftkit.semdedup.embed import BACKENDS, Embedder
from sftkit.semdedup.merge import STAGE, Search, merge_semdedup
from sftkit.semdedup.rows import RowEmbedder, field_dimension

CLUSTER_SIZE = 1000  # rows per k-means cluster on average (docs/stages/semdedup.md: measured)
PROBE = 3  # clusters searched per row: recall of pairs split by a cluster boundary (bench/semdedup.py)


def add_embedding_args(g: argparse._ActionsContainer) -> None:
    """Where vectors come from; shared with decontaminate --semantic."""
    cli.add(g, "--embedding-model", help="embedding model path or Hub id (a local copy: the nodes are offline)")
    cli.add(
        g,
        "--embedding-backend",
        choices=BACKENDS,
        default="sentence-transformers",
        help="runs --embedding-model: vllm (pooling runner, GPU), sentence-transformers, model2vec (static, CPU)",
    )
    cli.add(g, "--embeddings-field", help="field holding each row's precomputed vector (a list of numbers)")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add_input_args(p, required=False)
    cli.add_field_args(p)
    g = p.add_argument_group("embeddings")
    add_embedding_args(g)
    cli.add(g, "--text-field", action="append", help="field(s) embedded, repeatable; default --question-field")
    m = p.add_argument_group("merge")
    cli.add(m, "--threshold", type=float, default=0.9, help="cosine from which two rows are duplicates")
    cli.add(m, "--cluster-size", type=int, default=CLUSTER_SIZE, help="rows per k-means cluster, on average")
    cli.add(m, "--probe", type=int, default=PROBE, help="nearest k-means clusters each row is compared in")
    cli.add(m, "--seed", type=int, default=0, help="k-means sample and initialisation seed")
    cli.add(
        m,
        "--keep-by",
        help="FIELD:asc|desc or FIELD:number|length:asc|desc: the row a component keeps "
        "(default: the first in input order), e.g. generated_solution:length:desc",
    )
    cli.add_self_merging_output(
        p,
        output_help="kept rows: .jsonl, .json or .parquet",
        merge_help="search the shards' vectors of --output and write it",
    )
    cli.add_shard_args(p)
    return p


def search_of(args: argparse.Namespace) -> Search:
    if not 0 < args.threshold <= 1:
        raise InputError("--threshold must be in (0, 1]")
    if args.cluster_size < 1 or args.probe < 1:
        raise InputError("--cluster-size and --probe must be >= 1")
    return Search(args.threshold, args.cluster_size, args.probe, args.seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cli.check_writable(args.output)
    search = search_of(args)
    embedder = Embedder.from_args(args.embedding_model, args.embedding_backend, args.embeddings_field)
    try:
        keep_by = KeepBy.parse(args.keep_by) if args.keep_by else None
    except ValueError as exc:
        raise InputError(str(exc)) from None
    fields = tuple(args.text_field or [args.question_field])
    expected: dict[str, Any] = {
        "embedder": embedder.identity,
        "fields": None if embedder.field else list(fields),
        "keep_by": keep_by.__dict__ if keep_by else None,
    }
    if not args.merge:
        if not args.input:
            raise InputError("--input is required (or --merge after sharded runs)")
        shard, spec = cli.shard_of(args), cli.input_spec(args)
        source = open_source(spec)
        dim = field_dimension(source, embedder.field) if embedder.field else None
        started = time.time()
        run = run_stage(
            stage=STAGE,
            source=source,
            shard=shard,
            output=args.output,
            settings={"input": spec.__dict__, STAGE: expected},
            process=RowEmbedder(embedder, fields, keep_by, args.id_field, dim),
            every=args.checkpoint_every,
            batch_size=args.batch_size,
            on_bad_record=args.on_bad_record,
            overwrite=args.overwrite,
            merge_whole=False,
            id_field=args.id_field,
        )
        m = run.marker
        print(
            f"{shard.name}: {m['records']:,} rows embedded, {m['rejects']:,} quarantined "
            f"({time.time() - started:.1f} s)",
            file=sys.stderr,
        )
        if not shard.is_whole:
            print(
                f"part written; after every shard: python selectors/semdedup.py --merge --output {args.output} "
                "(with the same embedding flags)",
                file=sys.stderr,
            )
            return 0
    merge_semdedup(args.output, args.num_shards, search, expected=expected, id_field=args.id_field)
    return 0
