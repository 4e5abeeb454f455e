"""The dedup stage's global step, partitioned so that no task holds more than its share: candidate pairs
over every shard's arrays, clusters over the pairs, the kept rows and the audit.

It runs as a chain of steps, each a set of independent tasks (Slurm arrays under ``submit.sh dedup
--merge-tasks M``, local processes under ``--local``, or one after another in one process):

- ``ref`` (1 task, --against only): the reference hashed batch by batch into arrays in the merge folder;
- ``pairs`` (M): the (band, key range) units, plus the exact-hash ones, dealt to M tasks; each reads
  its units' hash column from every shard, sorts it, pairs rows within each bucket (capped as before),
  checks its candidates (estimated, or exact under --verify) and writes the similar ones as a forest;
- ``clusters`` (1): connected components over the pair files only, over the rows they touch;
  writes each shard's plan (removed rows, the row each duplicates, the row kept);
- ``facts`` (N): each shard's id and text of the rows some plan names;
- ``write`` (N): each shard's kept rows, in input order, and its part of the audit;
- ``finish`` (1): the parts joined into --output and the audit file, the stats, the plot.

A task writes its files atomically, then its marker, which holds the merge's fingerprint (the shards'
markers and the merge's settings): a rerun skips the tasks done under the same fingerprint. Clusters are
connected components, so the output does not depend on how the pairs were split: every shard count and
task count write the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import report
from sftkit.data.atomic import atomic_path, dumps_line, write_json_atomic
from sftkit.data.checkpoint import array_path, concat_arrays
from sftkit.data.fingerprint import describe_change
from sftkit.data.lock import ShardLock
from sftkit.data.merge import (
    check_complete,
    checked_parts,
    load_markers,
    merge_rejects,
    part_paths,
    read_lines,
    verify_parts,
)
from sftkit.data.sources import InputSpec, open_source
from sftkit.data.writers import write_lines
from sftkit.dedup.arrays import Store, column_chunks
from sftkit.dedup.clusters import (
    bucket_pairs,
    compact,
    components,
    forest,
    keepers,
    similar_in_rounds,
    unique_pairs,
)
from sftkit.dedup.minhash import estimated_jaccard, midpoint
from sftkit.dedup.rows import RowHasher
from sftkit.dedup.text import jaccard
from sftkit.errors import InputError

_PAIRS_PER_STEP = 100_000
BUCKET_CAP = 256  # a band bucket of more distinct texts pairs each with its first 256 only (counted)
STEPS = ("ref", "pairs", "clusters", "facts", "write", "finish")
_EMPTY = np.zeros((0, 2), dtype=np.int64)


def merge_steps(num_shards: int, tasks: int, against: bool) -> list[tuple[str, int]]:
    """(step, task count) in the order they must run: what ``submit.sh`` chains."""
    return [
        *([("ref", 1)] if against else []),
        ("pairs", tasks),
        ("clusters", 1),
        ("facts", num_shards),
        ("write", num_shards),
        ("finish", 1),
    ]


def key_ranges(tasks: int, bands: int) -> int:
    """How many key ranges each band (and the exact hash) is split into: enough for every task to get a
    unit, so that a unit, and with it a task's memory, shrinks as tasks are added."""
    return -(-tasks // (bands + 1))


@dataclass
class Merge:
    """One merge: its shards, its settings, its folder of step files (``<output>.merge/``)."""

    output: Path
    markers: list[dict[str, Any]]
    hasher: RowHasher
    threshold: float
    verify: bool
    against: InputSpec | None
    tasks: int
    expected: dict[str, Any]

    def __post_init__(self) -> None:
        self.parts = part_paths(self.markers)
        self.folder = Path(f"{self.output}.merge")
        self.sizes = [m["records"] for m in self.markers]
        self.starts = np.cumsum([0, *self.sizes])
        self.inputs = int(self.starts[-1])
        settings = {
            "dedup": self.expected,
            "threshold": self.threshold,
            "verify": self.verify,
            "against": self.against.__dict__ if self.against else None,
            "tasks": self.tasks,
        }
        shards = [
            [m["shard"], m.get("sha256"), {k: a["sha256"] for k, a in (m.get("arrays") or {}).items()}]
            for m in self.markers
        ]
        state = orjson.dumps({"settings": settings, "shards": shards}, option=orjson.OPT_SORT_KEYS)
        self.fingerprint = hashlib.sha256(state).hexdigest()

    def steps(self) -> list[tuple[str, int]]:
        return merge_steps(len(self.markers), self.tasks, self.against is not None)

    def file(self, name: str) -> Path:
        return self.folder / name

    def _marker(self, step: str, task: int) -> Path:
        return self.file(f"{step}-{task:05d}.done.json")

    def outputs(self, step: str, task: int) -> list[Path]:
        """The files a task writes, which the steps after it read."""
        names = {
            "ref": ["facts-ref.jsonl", "ref.exact.npy", "ref.signature.npy", "ref.bands.npy"],
            "pairs": [f"edges-{task:05d}.npy", f"copies-{task:05d}.npy"],
            "clusters": [
                "sizes.npy",
                *(f"{k}-{s:05d}.npy" for s in range(len(self.markers)) for k in ("plan", "want")),
            ],
            "facts": [f"facts-{task:05d}.jsonl"],
            "write": [f"dups-{task:05d}.jsonl", f"kept-{task:05d}.jsonl"],
        }
        return [self.file(n) for n in names.get(step, [])]

    def done(self, step: str, task: int) -> dict[str, Any] | None:
        """A task's marker, if it finished under this merge's fingerprint and its files are all still there
        (one deleted since: the task runs again)."""
        path = self._marker(step, task)
        if path.exists():
            marker = orjson.loads(path.read_bytes())
            if marker.get("fingerprint") == self.fingerprint and all(f.exists() for f in self.outputs(step, task)):
                return marker
        return None

    def need(self, step: str) -> list[dict[str, Any]]:
        """The markers of every task of an earlier step; one line naming those not done."""
        count = dict(self.steps())[step]
        found = [self.done(step, t) for t in range(count)]
        missing = [str(t) for t, m in enumerate(found) if m is None]
        if missing:
            raise InputError(
                f"{self.folder}: dedup merge step {step!r} is not done for task(s) {', '.join(missing)} of "
                f"0-{count - 1} (with these shards and flags); run that step first"
            )
        return found  # type: ignore[return-value]

    @cached_property
    def reference_rows(self) -> int:
        return self.need("ref")[0]["rows"] if self.against else 0

    @cached_property
    def store(self) -> Store:
        """Every node's arrays: the parts' (in shard order), then the reference's."""
        blocks = [
            {name: array_path(p, name) for name in (m.get("arrays") or {})} for p, m in zip(self.parts, self.markers)
        ]
        sizes = list(self.sizes)
        if self.against:
            names = ("exact", "signature", "bands", *(("keep_by",) if self.hasher.keep_by else ()))
            blocks.append({name: self.file(f"ref.{name}.npy") for name in names})
            sizes.append(self.reference_rows)
        return Store(blocks, sizes)

    def records(self, wanted: np.ndarray) -> dict[int, dict[str, Any]]:
        """The id and text fields of the ``wanted`` nodes: the parts read once (only the shards holding
        some), then the reference's facts; nothing else is kept."""
        want = set(wanted.tolist())
        fields = (self.hasher.id_field, *self.hasher.fields)
        out: dict[int, dict[str, Any]] = {}
        for s in np.unique(np.searchsorted(self.starts, wanted[wanted < self.inputs], side="right") - 1).tolist():
            for k, line in enumerate(read_lines([self.parts[s]])):
                if int(self.starts[s]) + k in want:
                    record = orjson.loads(line)
                    out[int(self.starts[s]) + k] = {f: record.get(f) for f in fields}
        if len(wanted) and wanted.max() >= self.inputs:
            out.update(self.facts([self.file("facts-ref.jsonl")], want))
        return out

    @staticmethod
    def facts(files: list[Path], want: set[int]) -> dict[int, dict[str, Any]]:
        out = {}
        for line in read_lines([f for f in files if f.exists()]):
            node, record = orjson.loads(line)
            if node in want:
                out[node] = record
        return out

    def similarities(self, pairs: np.ndarray, records: dict[int, dict[str, Any]] | None) -> np.ndarray:
        """Each pair's Jaccard: exact over the n-gram sets of ``records`` when given, else estimated from the
        signatures, a block of pairs at a time."""
        if records is not None:
            sets = {n: self.hasher.ngram_set(r) for n, r in records.items()}
            return np.array([jaccard(sets[a], sets[b]) for a, b in pairs.tolist()], dtype=np.float64)
        out = np.empty(len(pairs), dtype=np.float64)
        for lo in range(0, len(pairs), _PAIRS_PER_STEP):
            block = pairs[lo : lo + _PAIRS_PER_STEP]
            sig = self.store.rows("signature", block.ravel()).reshape(len(block), 2, -1)
            out[lo : lo + len(block)] = estimated_jaccard(sig[:, 0], sig[:, 1])
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
    tasks: int = 1,
    step: str | None = None,
    task: int = 0,
) -> None:
    """The global step over every shard's arrays: one ``step``'s ``task``, or (``step`` None) every step
    here, one task after another, with the shards locked and verified as a whole. ``expected``: the dedup
    settings the shards must have run with; ``tasks``: the pairs step's task count (M)."""
    if step is None:
        with checked_parts(output, num_shards) as markers:
            merge = _merge(output, markers, hasher, threshold, verify, against, tasks, expected)
            for name, count in merge.steps():
                for t in range(count):
                    run_task(merge, name, t)
        return
    markers = load_markers(output)
    check_complete(output, markers, num_shards)
    if step == STEPS[1]:  # the first step over the shards checks that each is still what its marker says
        verify_parts(markers)
    merge = _merge(output, markers, hasher, threshold, verify, against, tasks, expected)
    steps = dict(merge.steps())
    if step not in steps or not 0 <= task < steps[step]:
        raise InputError(f"--merge-step {step} --merge-task {task}: this merge has steps {steps} (name: tasks)")
    run_task(merge, step, task)


def _merge(
    output: str | Path,
    markers: list[dict[str, Any]],
    hasher: RowHasher,
    threshold: float,
    verify: bool,
    against: InputSpec | None,
    tasks: int,
    expected: dict[str, Any],
) -> Merge:
    _check_flags(output, markers, expected)
    if tasks < 1:
        raise InputError("--merge-tasks must be >= 1")
    return Merge(Path(output), markers, hasher, threshold, verify, against, tasks, expected)


def run_task(merge: Merge, step: str, task: int) -> None:
    """One task of one step, unless it is done under this fingerprint; its marker is written last."""
    if merge.done(step, task) is not None:
        print(f"dedup merge: {step} {task} already done", file=sys.stderr)
        return
    if merge.folder.exists() and not merge.folder.is_dir():
        raise InputError(f"{merge.folder}: the merge's step folder is a file here; move it away and rerun")
    started = time.time()
    lock = ShardLock(merge.file(f"{step}-{task:05d}.lock"), f"dedup merge {step}")
    try:
        merge._marker(step, task).unlink(missing_ok=True)  # a marker only ever stands beside its own files
        result = _STEP[step](merge, task)
        if result is not None:
            marker = {"fingerprint": merge.fingerprint, "seconds": round(time.time() - started, 3), **result}
            write_json_atomic(merge._marker(step, task), marker)
    finally:
        lock.release()
    print(f"dedup merge: {step} {task} done ({time.time() - started:.1f} s)", file=sys.stderr)


def _check_flags(output: str | Path, markers: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    """The shards' arrays mean something only under the flags they were hashed with: refuse other ones."""
    found = (markers[0].get("settings") or {}).get("dedup")
    if found != expected:
        change = describe_change(found or {}, expected)
        raise InputError(
            f"{output}: the parts were hashed with other dedup flags ({change}); merge with "
            " the flags the shards ran with, or rerun them with --overwrite"
        )


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _ref(merge: Merge, task: int) -> dict[str, Any]:
    """The --against rows (their id and text fields only), hashed one batch at a time: arrays per batch,
    joined on disk, and a facts line per row; rows without the text fields are counted, not used."""
    hasher, rows, rejects, chunks = merge.hasher, 0, 0, []
    fields = (hasher.id_field, *hasher.fields)
    merge.folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(merge.file("facts-ref.jsonl")) as tmp, open(tmp, "wb") as facts:
        for batch in open_source(merge.against, "--against").iter_all(8192):  # type: ignore[arg-type]
            batch.require(dict.fromkeys(hasher.fields, "--text-field"))
            good, bad = hasher.usable(batch)
            rejects += len(bad) + len(batch.rejects)
            if not good:
                continue
            records = [{k: r[k] for k in fields} for r in good]
            chunk = merge.file(f"ref-chunk-{len(chunks):06d}")
            for name, array in hasher.arrays(records).items():
                _save(chunk.with_name(f"{chunk.name}.{name}.npy"), array)
            chunks.append(chunk)
            facts.writelines(dumps_line([merge.inputs + rows + k, r]) for k, r in enumerate(records))
            rows += len(records)
    if not rows:
        raise InputError(f"--against {merge.against.input}: no rows with {', '.join(hasher.fields)}")  # type: ignore[union-attr]
    for name in ("exact", "signature", "bands", "keep_by"):
        sources = [c.with_name(f"{c.name}.{name}.npy") for c in chunks]
        if sources[0].exists():
            concat_arrays(sources, merge.file(f"ref.{name}.npy"))
            for src in sources:
                src.unlink()
    return {"rows": rows, "rejects": rejects}


def _unit(merge: Merge, band: int, key_range: int, ranges: int) -> dict[str, np.ndarray]:
    """A unit's rows, in node order: its hash (the exact hash, ``band`` -1, or that band's) where the hash
    falls in ``key_range`` of ``ranges``, their nodes and exact hashes (and --keep-by values for the exact
    unit); columns are read in chunks, so only the unit's rows are held."""
    store = merge.store
    columns = {"exact": store.chunks("exact")}
    if band >= 0:
        columns["key"] = store.chunks("bands", band)
    elif merge.hasher.keep_by:
        columns["keep_by"] = store.chunks("keep_by")
    out: dict[str, list[np.ndarray]] = {name: [] for name in (*columns, "node")}
    for chunks in zip(*columns.values()):
        start, exact = chunks[0]
        key = chunks[1][1] if band >= 0 else exact
        mine = np.flatnonzero(key % np.uint64(ranges) == key_range)
        out["node"].append(start + mine)
        for name, (_, values) in zip(columns, chunks):
            out[name].append(values[mine])
    found = {name: np.concatenate(v) if v else np.zeros(0) for name, v in out.items()}
    found["node"] = found["node"].astype(np.int64)
    found.setdefault("key", found["exact"])
    return found


def _exact_unit(unit: dict[str, np.ndarray], inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with an equal exact hash: edges (first row, other row) when the first is an input row (two
    reference rows are never joined), and (row, best row with the same text) for the input rows that
    are not that best row (``copy_of``: a reference row first, then --keep-by, then input order)."""
    order = np.argsort(unit["exact"], kind="stable")
    exact, nodes = unit["exact"][order], unit["node"][order]
    starts = np.ones(len(exact), dtype=bool)
    starts[1:] = exact[1:] != exact[:-1]
    group = np.cumsum(starts) - 1
    many = np.bincount(group)[group] > 1
    first = nodes[np.flatnonzero(starts)][group]
    edges = np.stack([first, nodes], axis=1)[many & (first != nodes) & (first < inputs)]
    group, nodes = group[many], nodes[many]
    priority = [(nodes < inputs).astype(np.float64)]
    if "keep_by" in unit:
        priority.append(unit["keep_by"][order][many])
    best = nodes[keepers(group, priority)]
    copies = np.stack([nodes, best], axis=1)[(nodes < inputs) & (best != nodes)]
    return edges.astype(np.int64), copies.astype(np.int64)


def _band_unit(unit: dict[str, np.ndarray], inputs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``bucket_pairs`` over one row per distinct text of each bucket: exact copies share every band, so the
    first of them (in node order) stands for all, as the exact edges join the others."""
    key, exact, nodes = unit["key"], unit["exact"], unit["node"]
    order = np.lexsort((nodes, exact, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (key[order][1:] != key[order][:-1]) | (exact[order][1:] != exact[order][:-1])
    distinct = np.sort(order[first])
    return bucket_pairs(key[distinct], nodes[distinct], BUCKET_CAP, inputs)


def _pairs(merge: Merge, task: int) -> dict[str, Any]:
    """Task ``task`` of M: its (band, key range) units' candidate pairs, checked against the threshold, and
    its exact units' edges, written as one forest (``edges``), plus the exact copies' best rows (``copies``).
    A task's candidates are checked in rounds (``similar_in_rounds``) over the rows they touch."""
    bands = merge.hasher.minhash.bands
    ranges = key_ranges(merge.tasks, bands)
    units = [(band, r) for band in range(-1, bands) for r in range(ranges)][task :: merge.tasks]
    found, first, edges, copies, over_cap = [], [], [_EMPTY], [_EMPTY], {}
    for band, r in units:
        unit = _unit(merge, band, r, ranges)
        if band < 0:
            exact_edges, exact_copies = _exact_unit(unit, merge.inputs)
            edges.append(exact_edges)
            copies.append(exact_copies)
        else:
            pairs, from_first, over = _band_unit(unit, merge.inputs)
            found.append(pairs)
            first.append(pairs[from_first])
            over_cap[str(band)] = over_cap.get(str(band), 0) + over
        del unit
    total = len(merge.store)
    candidates = unique_pairs(found, total)
    del found
    similar, checked = _similar(merge, candidates, unique_pairs(first, total))
    edges.append(candidates[similar])
    _save(merge.file(f"edges-{task:05d}.npy"), forest(np.concatenate(edges)))
    _save(merge.file(f"copies-{task:05d}.npy"), np.concatenate(copies))
    return {
        "duplicate_ids": _duplicate_ids(merge, task),
        "candidates": len(candidates),
        "compared": int(checked.sum()),
        "similar": int(similar.sum()),
        "over_cap": over_cap,
    }


def _duplicate_ids(merge: Merge, task: int) -> int:
    """Input rows with the id of another input row, among the ids this task owns (id hash mod M): the audit
    cannot tell such rows apart. Each task holds only its share of the ids."""
    tasks = np.uint64(merge.tasks)
    blocks = merge.store.blocks[: len(merge.markers)]
    mine = [v[v % tasks == task] for b, n in zip(blocks, merge.sizes) if n for v in column_chunks(b["id"], None)]
    ids = np.concatenate(mine) if mine else np.zeros(0, dtype=np.uint64)
    return int(len(ids) - len(np.unique(ids)))


def _similar(merge: Merge, candidates: np.ndarray, star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which candidates reach the threshold, and which were compared, over the rows they touch only."""
    if not len(candidates):
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    touched, local = compact(candidates)
    records = merge.records(touched) if merge.verify else None
    return similar_in_rounds(
        local,
        np.searchsorted(touched, star),
        _EMPTY,
        len(touched),
        lambda p: merge.similarities(touched[p], records) >= merge.threshold,
    )


def _clusters(merge: Merge, task: int) -> dict[str, Any]:
    """Connected components over the pair files, over the rows they touch (file by file: the components so
    far, as a forest, plus one file's edges); then each cluster's kept row, and per shard the plan of its
    removed rows: (row, the row it duplicates, the row kept, 1 if an exact copy)."""
    merge.need("pairs")
    files = [merge.file(f"edges-{t:05d}.npy") for t in range(merge.tasks)]
    touched = np.zeros(0, dtype=np.int64)
    for f in files:
        touched = np.union1d(touched, np.load(f))
    labels = np.arange(len(touched))
    for f in files:
        edges = np.searchsorted(touched, np.load(f))
        labels = components(np.concatenate([edges, np.stack([np.arange(len(touched)), labels], axis=1)]), len(touched))
        root = np.full(len(touched), len(touched))
        np.minimum.at(root, labels, np.arange(len(touched)))
        labels = root[labels]  # a node index per component, so the next file's edges join it
    priority = [(touched < merge.inputs).astype(np.float64)]  # a reference row is kept first
    if merge.hasher.keep_by:
        priority.append(merge.store.rows("keep_by", touched) if len(touched) else np.zeros(0))
    keep = touched[keepers(labels, priority)]
    gone = (touched < merge.inputs) & (keep != touched)
    removed, kept = touched[gone], keep[gone]
    copies = np.concatenate([np.load(merge.file(f"copies-{t:05d}.npy")) for t in range(merge.tasks)])
    copies = copies[np.argsort(copies[:, 0])]
    at = np.searchsorted(copies[:, 0], removed)
    found = at < len(copies)
    found[found] = copies[at[found], 0] == removed[found]
    copy_of = removed.copy()
    copy_of[found] = copies[at[found], 1]
    exact = copy_of != removed
    plan = np.stack([removed, np.where(exact, copy_of, kept), kept, exact], axis=1).astype(np.int64)
    named = np.unique(plan[:, :3])
    for s in range(len(merge.markers)):
        lo, hi = merge.starts[s], merge.starts[s + 1]
        _save(merge.file(f"plan-{s:05d}.npy"), plan[(plan[:, 0] >= lo) & (plan[:, 0] < hi)])
        _save(merge.file(f"want-{s:05d}.npy"), named[(named >= lo) & (named < hi)])
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, dtype=np.int64)
    _save(merge.file("sizes.npy"), sizes[sizes > 1])
    return {"touched": len(touched), "removed": len(removed)}


def _facts(merge: Merge, shard: int) -> dict[str, Any]:
    """The id and text fields of the shard's rows that some plan names, one line each."""
    merge.need("clusters")
    want = np.load(merge.file(f"want-{shard:05d}.npy"))
    records = merge.records(want)
    write_lines(merge.file(f"facts-{shard:05d}.jsonl"), lambda: (dumps_line([n, records[n]]) for n in want.tolist()))
    return {"rows": len(want)}


def _write(merge: Merge, shard: int) -> dict[str, Any]:
    """The shard's kept rows, in input order, and one audit line per removed row, in input order: its id,
    the row it duplicates (a row with the same normalized text, kind ``exact``, else the row its cluster
    keeps, kind ``near``), the row kept, and their Jaccard (exact under --verify, else estimated)."""
    merge.need("facts")
    plan = np.load(merge.file(f"plan-{shard:05d}.npy"))
    named = np.unique(plan[:, :3])
    owners = np.unique(np.searchsorted(merge.starts, named, side="right") - 1).tolist()
    files = [merge.file(f"facts-{s:05d}.jsonl") for s in owners if s < len(merge.markers)]
    facts = merge.facts(files + [merge.file("facts-ref.jsonl")] * (merge.against is not None), set(named.tolist()))
    removed, of, kept, exact = plan.T
    similarity = merge.similarities(plan[:, :2], facts if merge.verify else None) if len(plan) else np.zeros(0)
    id_field = merge.hasher.id_field
    audit = [
        {
            "id": facts[i][id_field],
            "duplicate_of": facts[o][id_field],
            "kept": facts[k][id_field],
            "kind": "exact" if e else "near",
            "reference": bool(k >= merge.inputs),
            "duplicate_of_side": "against" if o >= merge.inputs else "input",  # ids of the two sides may overlap
            "jaccard": round(float(j), 4),
            "jaccard_is": "exact" if merge.verify else "estimated",
        }
        for i, o, k, e, j in zip(removed.tolist(), of.tolist(), kept.tolist(), exact.tolist(), similarity.tolist())
    ]
    write_lines(merge.file(f"dups-{shard:05d}.jsonl"), lambda: (dumps_line(a) for a in audit))
    gone = np.zeros(merge.sizes[shard], dtype=bool)
    gone[removed - merge.starts[shard]] = True
    part = [merge.parts[shard]] if merge.sizes[shard] else []
    written = write_lines(
        merge.file(f"kept-{shard:05d}.jsonl"), lambda: (line for k, line in enumerate(read_lines(part)) if not gone[k])
    )
    return {
        "kept": written,
        "exact": int(exact.sum()),
        "near": int(len(exact) - exact.sum()),
        "reference": int((kept >= merge.inputs).sum()),
    }


def _finish(merge: Merge, task: int) -> None:
    """The parts joined into --output and ``<output>.dups.jsonl``, the rejects, the plot, the stats and the
    summary; then the merge folder goes (its files are the merge's, not a result)."""
    started = time.time()
    pairs, clusters, written = merge.need("pairs"), merge.need("clusters")[0], merge.need("write")
    done = [m for step, _ in merge.steps()[:-1] for m in merge.need(step)]  # every task's own seconds
    count = len(merge.markers)
    dups = Path(f"{merge.output}.dups.jsonl")
    write_lines(dups, lambda: read_lines([merge.file(f"dups-{s:05d}.jsonl") for s in range(count)]))
    kept = write_lines(merge.output, lambda: read_lines([merge.file(f"kept-{s:05d}.jsonl") for s in range(count)]))
    rejects = merge_rejects(merge.output, merge.parts)
    sizes = np.load(merge.file("sizes.npy"))
    plot = _plot_clusters(merge.output, sizes, merge.inputs)
    over_cap: dict[str, int] = {}
    for p in pairs:
        for band, n in p["over_cap"].items():
            over_cap[band] = over_cap.get(band, 0) + n
    stats = {
        "stage": "dedup",
        "output": str(merge.output),
        "rows_in": sum(m["rows"][1] - m["rows"][0] for m in merge.markers),
        "rows_hashed": merge.inputs,
        "rejects": sum(m["rejects"] for m in merge.markers),
        "rejects_file": str(rejects) if rejects else None,
        "exact_duplicates": sum(w["exact"] for w in written),
        "near_duplicates": sum(w["near"] for w in written),
        "against_reference": sum(w["reference"] for w in written),
        "kept": kept,
        "clusters": len(sizes),
        "largest_cluster": int(sizes.max(initial=1)),
        "candidate_pairs": sum(p["candidates"] for p in pairs),
        "pairs_compared": sum(p["compared"] for p in pairs),
        "near_pairs": sum(p["similar"] for p in pairs),
        "rows_in_capped_buckets": max(over_cap.values(), default=0),
        "duplicate_ids": sum(p["duplicate_ids"] for p in pairs),
        "rows_touched_by_pairs": clusters["touched"],
        "settings": _settings(merge),
        "shards": count,
        "merge_tasks": merge.tasks,
        "worker_seconds": round(sum(m["seconds"] for m in merge.markers), 3),
        "merge_seconds": round(time.time() - started + sum(m["seconds"] for m in done), 3),
        "dups_file": str(dups),
        "plot": str(plot),
    }
    write_json_atomic(f"{merge.output}.stats.json", stats)
    _report(stats, merge.hasher, merge.against)
    shutil.rmtree(merge.folder, ignore_errors=True)


_STEP = {"ref": _ref, "pairs": _pairs, "clusters": _clusters, "facts": _facts, "write": _write, "finish": _finish}


def _plot_clusters(output: Path, sizes: np.ndarray, inputs: int) -> Path:
    """The histogram of the sizes of the clusters of more than one row, beside the output."""
    return report.histogram_png(
        output.with_name(output.stem + ".clusters.png"),
        {"rows per cluster": sizes},
        f"{len(sizes):,} duplicate clusters of {inputs:,} rows",
        "rows per cluster",
        ylabel="clusters",
    )


def _settings(merge: Merge) -> dict[str, Any]:
    """What the stats record as the settings: the shards' dedup flags, the merge's own, and the reference read."""
    ref = merge.need("ref")[0] if merge.against else {}
    return {
        **merge.expected,
        "threshold": merge.threshold,
        "verify": merge.verify,
        "against": merge.against.__dict__ if merge.against else None,
        "reference_rows": ref.get("rows", 0),
        "reference_rows_unusable": ref.get("rejects", 0),
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
