"""The semdedup stage's global step: every shard's vectors, the pairs at or above the cosine threshold
(``search.similar_pairs``), their connected components, one row kept per component, and the audit.

The vectors are read whole (2 bytes a dimension: 768 MB for 1M x 384); the parts' texts are read twice,
once for the ids of the audited rows and once to write the kept rows in input order.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import report
from sftkit.data.atomic import dumps_line, write_json_atomic
from sftkit.data.checkpoint import array_path
from sftkit.data.fingerprint import describe_change
from sftkit.data.merge import checked_parts, merge_rejects, part_paths, read_lines
from sftkit.data.writers import write_lines
from sftkit.dedup.clusters import components, keepers
from sftkit.errors import InputError
from sftkit.semdedup.search import Found, norms, similar_pairs

STAGE = "semdedup"


@dataclass(frozen=True)
class Search:
    """The merge's own flags: they act on the stored vectors, so a merge reruns with others without embedding."""

    threshold: float
    cluster_size: int
    probe: int
    seed: int


def merge_semdedup(
    output: str | Path, num_shards: int | None, search: Search, *, expected: dict[str, Any], id_field: str
) -> dict[str, Any]:
    """Check the shards embedded with these flags, find the duplicate components over all their rows, write the
    kept rows in input order, an audit line per removed row, the stats and the summary."""
    started = time.time()
    with checked_parts(output, num_shards) as markers:
        found_flags = (markers[0].get("settings") or {}).get(STAGE)
        if found_flags != expected:
            raise InputError(
                f"{output}: the parts were embedded with other semdedup flags "
                f"({describe_change(found_flags or {}, expected)}); merge with the flags the shards ran with, "
                "or rerun them with --overwrite"
            )
        parts = part_paths(markers)
        vectors, ranks = _load(output, parts, markers)
        found = similar_pairs(
            vectors, search.threshold, cluster_size=search.cluster_size, probe=search.probe, seed=search.seed
        )
        keep = keepers(components(found.pairs, len(vectors)), [ranks] if ranks is not None else [])
        removed = np.flatnonzero(keep != np.arange(len(vectors)))
        audit = _audit(parts, vectors, removed, keep[removed], id_field)
        dups = Path(f"{output}.dups.jsonl")
        write_lines(dups, lambda: (dumps_line(a) for a in audit))
        gone = np.zeros(len(vectors), dtype=bool)
        gone[removed] = True
        kept = write_lines(output, lambda: (line for k, line in enumerate(read_lines(parts)) if not gone[k]))
        rejects = merge_rejects(output, parts)
    sizes = np.bincount(keep)
    stats = {
        "stage": STAGE,
        "output": str(output),
        "rows_in": sum(m["rows"][1] - m["rows"][0] for m in markers),
        "rows_embedded": len(vectors),
        "rejects": sum(m["rejects"] for m in markers),
        "rejects_file": str(rejects) if rejects else None,
        "duplicates": len(removed),
        "kept": kept,
        "components": int((sizes > 1).sum()),
        "largest_component": int(sizes.max(initial=1)),
        "pairs": len(found.pairs),
        "kmeans_clusters": found.clusters,
        "largest_kmeans_cluster": found.largest,
        "cosines_computed": found.compared,
        "settings": {**expected, **search.__dict__},
        "shards": len(markers),
        "worker_seconds": round(sum(m["seconds"] for m in markers), 3),
        "merge_seconds": round(time.time() - started, 3),
        "dups_file": str(dups),
    }
    write_json_atomic(f"{output}.stats.json", stats)
    _report(stats, found)
    return stats


def _load(output: str | Path, parts: list[Path], markers: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
    """All rows' vectors (float16, in input order) and --keep-by keys; parts of another dimension are refused."""
    blocks = [
        {name: np.load(array_path(p, name), mmap_mode="r") for name in m["arrays"]}
        for p, m in zip(parts, markers)
        if m["records"]
    ]
    dims = {b["embedding"].shape[1] for b in blocks}
    if len(dims) > 1:
        raise InputError(f"{output}: the shards' vectors differ in dimension ({sorted(dims)}); one embedder for all")
    if not blocks:
        return np.zeros((0, 1), dtype=np.float16), None
    vectors = np.concatenate([b["embedding"] for b in blocks])
    ranks = np.concatenate([b["keep_by"] for b in blocks]) if "keep_by" in blocks[0] else None
    return vectors, ranks


def _audit(
    parts: list[Path], vectors: np.ndarray, removed: np.ndarray, kept: np.ndarray, id_field: str
) -> list[dict[str, Any]]:
    """One line per removed row, in input order: its id, the id of the row its component keeps, their cosine
    (below the threshold only when the two are joined through other rows)."""
    wanted = set(removed.tolist()) | set(kept.tolist())
    ids = {k: orjson.loads(line).get(id_field) for k, line in enumerate(read_lines(parts)) if k in wanted}
    a, b = vectors[removed].astype(np.float32), vectors[kept].astype(np.float32)
    cos = np.einsum("ij,ij->i", a, b) / (norms(vectors[removed]) * norms(vectors[kept])) if len(a) else []
    return [
        {"id": ids[i], "duplicate_of": ids[k], "cosine": round(float(c), 4)}
        for i, k, c in zip(removed.tolist(), kept.tolist(), np.asarray(cos).tolist())
    ]


def _report(stats: dict[str, Any], found: Found) -> None:
    s = stats["settings"]
    report.print_summary(
        f"semdedup: cosine >= {s['threshold']:g}, {found.clusters:,} k-means clusters, probe {s['probe']}",
        {
            "rows in": stats["rows_in"],
            "quarantined": stats["rejects"],
            "pairs >= threshold": stats["pairs"],
            "duplicates removed": stats["duplicates"],
            "duplicate components": stats["components"],
            "largest component": stats["largest_component"],
            "largest k-means cluster": stats["largest_kmeans_cluster"],
            "kept": stats["kept"],
            "output": stats["output"],
            "audit": stats["dups_file"],
            "merge seconds": stats["merge_seconds"],
        },
    )
    if stats["rejects_file"]:
        print(f"warning: {stats['rejects']:,} rows quarantined to {stats['rejects_file']}", file=sys.stderr)
