"""The dedup stage's global step: candidate pairs over every shard's arrays, clusters, the audit.

The arrays stay on disk (memory-mapped ``.npy`` beside each part): one exact-hash column and one
band column at a time are read whole (8 bytes a row each), signatures only for candidate pairs.
Texts are read back from the parts only for the rows --verify or the audit needs.
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
from sftkit.data.sources import InputSpec, open_source
from sftkit.data.writers import write_lines
from sftkit.dedup.clusters import bucket_pairs, components, equal_pairs, keepers, similar_in_rounds, unique_pairs
from sftkit.dedup.minhash import estimated_jaccard, midpoint
from sftkit.dedup.rows import RowHasher
from sftkit.dedup.text import jaccard
from sftkit.errors import InputError

_PAIRS_PER_STEP = 100_000
BUCKET_CAP = 256  # a band bucket of more distinct texts pairs each with its first 256 only (counted)


@dataclass
class Nodes:
    """Every row's arrays, the parts' (memory-mapped) then the reference's, addressed by one index."""

    blocks: list[dict[str, np.ndarray]]

    def __post_init__(self) -> None:
        self.starts = np.cumsum([0] + [len(b["exact"]) for b in self.blocks])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def column(self, name: str, j: int | None = None) -> np.ndarray:
        return np.concatenate([b[name] if j is None else b[name][:, j] for b in self.blocks])

    def rows(self, name: str, index: np.ndarray) -> np.ndarray:
        first = self.blocks[0][name]
        out = np.empty((len(index), *first.shape[1:]), dtype=first.dtype)
        block = np.searchsorted(self.starts, index, side="right") - 1
        for k, b in enumerate(self.blocks):
            at = np.flatnonzero(block == k)
            if len(at):
                local = index[at] - self.starts[k]
                order = np.argsort(local)  # a memory map reads fastest in file order
                out[at[order]] = b[name][local[order]]
        return out


@dataclass
class Reference:
    records: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]
    rejects: int


def load_reference(spec: InputSpec, hasher: RowHasher) -> Reference:
    """The --against rows (their id and text fields only) and their arrays; rows without the text fields
    are counted, not used."""
    source = open_source(spec, "--against")
    records: list[dict[str, Any]] = []
    rejects = 0
    for batch in source.iter_all(8192):
        batch.require(dict.fromkeys(hasher.fields, "--text-field"))
        good, bad = hasher.usable(batch)
        records += [{k: r[k] for k in (hasher.id_field, *hasher.fields)} for r in good]
        rejects += len(bad) + len(batch.rejects)
    if not records:
        raise InputError(f"--against {spec.input}: no rows with {', '.join(hasher.fields)}")
    return Reference(records, hasher.arrays(records), rejects)


def _facts(
    parts: list[Path], reference: Reference | None, wanted: set[int], hasher: RowHasher, sets: bool
) -> dict[int, tuple[Any, np.ndarray | None]]:
    """(id, n-gram set if ``sets``) of the wanted nodes, reading the parts once; nothing else is kept."""
    facts, index = {}, -1
    for index, line in enumerate(read_lines(parts)):
        if index in wanted:
            record = orjson.loads(line)
            facts[index] = (record.get(hasher.id_field), hasher.ngram_set(record) if sets else None)
    for k, record in enumerate(reference.records if reference else []):
        if index + 1 + k in wanted:
            facts[index + 1 + k] = (record.get(hasher.id_field), hasher.ngram_set(record) if sets else None)
    return facts


def _similarities(nodes: Nodes, pairs: np.ndarray, sets: dict[int, np.ndarray] | None) -> np.ndarray:
    """Each pair's Jaccard: exact over the n-gram sets when given, else estimated from the signatures."""
    if sets is not None:
        return np.array([jaccard(sets[a], sets[b]) for a, b in pairs.tolist()], dtype=np.float64)
    out = np.empty(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), _PAIRS_PER_STEP):
        block = pairs[lo : lo + _PAIRS_PER_STEP]
        out[lo : lo + len(block)] = estimated_jaccard(
            nodes.rows("signature", block[:, 0]), nodes.rows("signature", block[:, 1])
        )
    return out


def merge_dedup(
    output: str | Path,
    num_shards: int | None,
    hasher: RowHasher,
    *,
    threshold: float,
    verify: bool,
    against: InputSpec | None,
    expected: dict[str, Any],
) -> dict[str, Any]:
    """The global step over every shard's arrays: check the shards hashed with these flags, cluster their rows
    (and --against's), write the kept rows in input order and an audit line per removed row, then the stats,
    the cluster-size plot and the summary. ``expected``: the dedup settings the shards must have run with."""
    started = time.time()
    with checked_parts(output, num_shards) as markers:
        _check_flags(output, markers, expected)
        parts = part_paths(markers)
        blocks = _part_arrays(parts, markers, hasher)
        reference = load_reference(against, hasher) if against else None
        nodes = Nodes(blocks + ([reference.arrays] if reference else []))
        inputs = int(nodes.starts[len(blocks)])
        duplicate_ids = inputs - len(np.unique(nodes.column("id")[:inputs]))  # the audit cannot tell them apart
        found = _cluster(nodes, inputs, parts, reference, hasher, threshold, verify)
        audit = _audit(found.removed, found.keep, found.copy_of, nodes, parts, reference, hasher, verify, inputs)
        written = _write(output, parts, audit, found.removed, inputs)
    sizes, plot = _plot_clusters(output, found.labels, inputs)
    settings = _settings(expected, threshold, verify, against, reference)
    stats = _stats(output, markers, inputs, audit, found, written, sizes, plot, settings, started, duplicate_ids)
    write_json_atomic(f"{output}.stats.json", stats)
    _report(stats, hasher, against)
    return stats


def _check_flags(output: str | Path, markers: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    """The shards' arrays mean something only under the flags they were hashed with: refuse other ones."""
    found = (markers[0].get("settings") or {}).get("dedup")
    if found != expected:
        change = describe_change(found or {}, expected)
        raise InputError(
            f"{output}: the parts were hashed with other dedup flags ({change}); merge with "
            " the flags the shards ran with, or rerun them with --overwrite"
        )


def _part_arrays(parts: list[Path], markers: list[dict[str, Any]], hasher: RowHasher) -> list[dict[str, np.ndarray]]:
    """Each non-empty part's arrays, memory-mapped rather than read; one empty block when every shard is empty,
    so the columns still concatenate."""
    return [
        {name: np.load(array_path(p, name), mmap_mode="r") for name in m["arrays"]}
        for p, m in zip(parts, markers)
        if m["records"]
    ] or [hasher.arrays([])]


@dataclass
class Clusters:
    """What clustering decided, per node (row): its cluster, the node its cluster keeps, the best node with the
    same exact text; the input rows removed; and the counts the stats report."""

    labels: np.ndarray
    keep: np.ndarray
    copy_of: np.ndarray
    removed: np.ndarray
    candidates: int
    compared: int
    similar: int
    over_cap: int


def _cluster(
    nodes: Nodes,
    inputs: int,
    parts: list[Path],
    reference: Reference | None,
    hasher: RowHasher,
    threshold: float,
    verify: bool,
) -> Clusters:
    """Join exact copies, then pairs from the band buckets whose Jaccard reaches ``threshold`` (exact under
    --verify, else estimated), into clusters; each keeps its best row, a reference row first. Each row is
    compared with its bucket's first row before the pairs left apart, so a bucket of near copies is not
    compared pair by pair (``similar_in_rounds``)."""
    total = len(nodes)
    exact = nodes.column("exact")
    exact_pairs = equal_pairs(exact)
    distinct = np.setdiff1d(np.arange(total), exact_pairs[:, 1])  # one row per text: copies are joined above
    buckets = [bucket_pairs(nodes.column("bands", j), distinct, BUCKET_CAP) for j in range(hasher.minhash.bands)]
    over_cap = max((over for _, _, over in buckets), default=0)
    candidates = unique_pairs((pairs for pairs, _, _ in buckets), total)
    candidates = candidates[candidates[:, 0] < inputs]
    sets = None
    if verify:
        facts = _facts(parts, reference, set(candidates.ravel().tolist()), hasher, sets=True)
        sets = {i: s for i, (_, s) in facts.items()}
    base = exact_pairs[exact_pairs[:, 0] < inputs]  # two reference rows are never merged: it stays whole
    star = unique_pairs((pairs[first] for pairs, first, _ in buckets), total)
    similar, checked = similar_in_rounds(
        candidates, star, base, total, lambda p: _similarities(nodes, p, sets) >= threshold
    )
    labels = components(unique_pairs([base, candidates[similar]], total), total)
    priority = [(np.arange(total) < inputs).astype(np.float64)]  # a reference row is kept first
    if hasher.keep_by:
        priority.append(nodes.column("keep_by"))
    keep = keepers(labels, priority)
    return Clusters(
        labels=labels,
        keep=keep,
        copy_of=keepers(np.unique(exact, return_inverse=True)[1], priority),  # the best row with the same text
        removed=np.flatnonzero(keep[:inputs] != np.arange(inputs)),
        candidates=len(candidates),
        compared=int(checked.sum()),
        similar=int(similar.sum()),
        over_cap=over_cap,
    )


@dataclass
class Written:
    """The merge's files: the audit, the kept rows' count, and the shards' rejects joined (None if none)."""

    dups: Path
    kept: int
    rejects: Path | None


def _write(
    output: str | Path, parts: list[Path], audit: list[dict[str, Any]], removed: np.ndarray, inputs: int
) -> Written:
    """The audit, then every row not removed, in input order (the parts read once more), then the rejects."""
    dups = Path(f"{output}.dups.jsonl")
    write_lines(dups, lambda: (dumps_line(a) for a in audit))
    gone = np.zeros(inputs, dtype=bool)
    gone[removed] = True
    kept = write_lines(output, lambda: (line for k, line in enumerate(read_lines(parts)) if not gone[k]))
    return Written(dups, kept, merge_rejects(output, parts))


def _plot_clusters(output: str | Path, labels: np.ndarray, inputs: int) -> tuple[np.ndarray, Path]:
    """The sizes of the clusters of more than one row, and their histogram beside the output."""
    sizes = np.bincount(labels)
    sizes = sizes[sizes > 1]
    out = Path(output)
    plot = report.histogram_png(
        out.with_name(out.stem + ".clusters.png"),
        {"rows per cluster": sizes},
        f"{len(sizes):,} duplicate clusters of {inputs:,} rows",
        "rows per cluster",
        ylabel="clusters",
    )
    return sizes, plot


def _settings(
    expected: dict[str, Any], threshold: float, verify: bool, against: InputSpec | None, reference: Reference | None
) -> dict[str, Any]:
    """What the stats record as the settings: the shards' dedup flags, the merge's own, and the reference read."""
    return {
        **expected,
        "threshold": threshold,
        "verify": verify,
        "against": against.__dict__ if against else None,
        "reference_rows": len(reference.records) if reference else 0,
        "reference_rows_unusable": reference.rejects if reference else 0,
    }


def _stats(
    output: str | Path,
    markers: list[dict[str, Any]],
    inputs: int,
    audit: list[dict[str, Any]],
    found: Clusters,
    written: Written,
    sizes: np.ndarray,
    plot: Path,
    settings: dict[str, Any],
    started: float,
    duplicate_ids: int,
) -> dict[str, Any]:
    """``<output>.stats.json``: what the merge read, removed and kept, and with which settings (provenance)."""
    kinds = [a["kind"] for a in audit]
    return {
        "stage": "dedup",
        "output": str(output),
        "rows_in": sum(m["rows"][1] - m["rows"][0] for m in markers),
        "rows_hashed": inputs,
        "rejects": sum(m["rejects"] for m in markers),
        "rejects_file": str(written.rejects) if written.rejects else None,
        "exact_duplicates": kinds.count("exact"),
        "near_duplicates": kinds.count("near"),
        "against_reference": sum(a["reference"] for a in audit),
        "kept": written.kept,
        "clusters": len(sizes),
        "largest_cluster": int(sizes.max(initial=1)),
        "candidate_pairs": found.candidates,
        "pairs_compared": found.compared,
        "near_pairs": found.similar,
        "rows_in_capped_buckets": found.over_cap,
        "duplicate_ids": duplicate_ids,
        "settings": settings,
        "shards": len(markers),
        "worker_seconds": round(sum(m["seconds"] for m in markers), 3),
        "merge_seconds": round(time.time() - started, 3),
        "dups_file": str(written.dups),
        "plot": str(plot),
    }


def _report(stats: dict[str, Any], hasher: RowHasher, against: InputSpec | None) -> None:
    """The summary table, and a warning for each thing the user should look at: rows quarantined, band buckets
    over the cap (pairs not compared), --against rows that could not be compared."""
    m, settings, over_cap = hasher.minhash, stats["settings"], stats["rows_in_capped_buckets"]
    report.print_summary(
        f"dedup: {m.bands} bands x {m.rows} rows of {m.num_perm} permutations, {hasher.n}-grams, "
        f"S-curve 0.5 at J = {midpoint(m.bands, m.rows):.3f}, threshold {settings['threshold']:g}"
        f"{', verified' if settings['verify'] else ''}",
        {
            "rows in": stats["rows_in"],
            "quarantined": stats["rejects"],
            "exact duplicates removed": stats["exact_duplicates"],
            "near duplicates removed": stats["near_duplicates"],
            **({"of them duplicating --against": stats["against_reference"]} if against else {}),
            "duplicate clusters": stats["clusters"],
            "largest cluster": stats["largest_cluster"],
            "candidate pairs (banding)": stats["candidate_pairs"],
            "of them compared": stats["pairs_compared"],
            "of them >= threshold": stats["near_pairs"],
            f"rows in band buckets over {BUCKET_CAP} (max over bands)": over_cap,
            "kept": stats["kept"],
            "output": stats["output"],
            "audit": stats["dups_file"],
            "cluster sizes": stats["plot"],
            "merge seconds": stats["merge_seconds"],
        },
    )
    if stats["rejects_file"]:
        print(f"warning: {stats['rejects']:,} rows quarantined to {stats['rejects_file']}", file=sys.stderr)
    if over_cap:
        print(
            f"warning: {over_cap:,} rows share a band bucket of more than {BUCKET_CAP} distinct texts; each was "
            f"compared with the bucket's first {BUCKET_CAP} only",
            file=sys.stderr,
        )
    if stats["duplicate_ids"]:
        print(
            f"warning: {stats['duplicate_ids']:,} rows have the {hasher.id_field} of an earlier row; audit lines that "
            "name them are ambiguous (give unique ids, or drop the field so rows get <file>-<row>)",
            file=sys.stderr,
        )
    if settings["reference_rows_unusable"]:
        print(
            f"warning: {settings['reference_rows_unusable']:,} rows of --against {against.input} have no usable "
            f"{', '.join(hasher.fields)} and were not compared",
            file=sys.stderr,
        )


def _audit(
    removed: np.ndarray,
    keep: np.ndarray,
    copy_of: np.ndarray,
    nodes: Nodes,
    parts: list[Path],
    reference: Reference | None,
    hasher: RowHasher,
    verify: bool,
    inputs: int,
) -> list[dict[str, Any]]:
    """One line per removed row, in input order: its id, the row it duplicates (a row with the same
    normalized text, kind ``exact``, else the row its cluster keeps, kind ``near``), the row kept, and
    their Jaccard (exact under --verify, else estimated from the signatures)."""
    exact = copy_of[removed] != removed
    of = np.where(exact, copy_of[removed], keep[removed])
    facts = _facts(
        parts, reference, set(removed.tolist()) | set(of.tolist()) | set(keep[removed].tolist()), hasher, sets=verify
    )
    similarity = _similarities(
        nodes, np.stack([removed, of], axis=1), {i: s for i, (_, s) in facts.items()} if verify else None
    )
    return [
        {
            "id": facts[i][0],
            "duplicate_of": facts[o][0],
            "kept": facts[k][0],
            "kind": "exact" if e else "near",
            "reference": bool(k >= inputs),
            "duplicate_of_side": "against" if o >= inputs else "input",  # ids of the two sides may overlap
            "jaccard": round(float(j), 4),
            "jaccard_is": "exact" if verify else "estimated",
        }
        for i, o, k, e, j in zip(
            removed.tolist(), of.tolist(), keep[removed].tolist(), exact.tolist(), similarity.tolist()
        )
    ]
