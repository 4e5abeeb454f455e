"""Join the parts of a sharded stage into one output, refusing while any shard is incomplete.

Before writing anything it checks that the parts are of one kind (``--shard I/N`` or percentage
ranges), tile the input's rows exactly once, share one fingerprint, and that every part still is
what its marker says (records, size, sha256); it holds every shard's lock meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sftkit import report
from sftkit.data.atomic import remove_stale_temporaries, write_json_atomic
from sftkit.data.checkpoint import array_path, parts_dir
from sftkit.data.fingerprint import describe_change
from sftkit.data.hashing import file_sha256
from sftkit.data.lock import ShardLock
from sftkit.data.writers import write_lines
from sftkit.errors import InputError
from sftkit.sortkeys import sort_order


class IncompleteShardsError(InputError):
    """Some shards have no completion marker; the message names them."""


def load_markers(output: str | Path) -> list[dict[str, Any]]:
    folder = parts_dir(output)
    if not folder.is_dir():
        raise InputError(f"{folder}: no parts found; run the stage first (its --output must be {output})")
    markers = [orjson.loads(p.read_bytes()) | {"_path": p} for p in folder.glob("*.done")]
    return sorted(markers, key=lambda m: Fraction(m["start"]))


def check_complete(output: str | Path, markers: list[dict[str, Any]], num_shards: int | None = None) -> None:
    """Raise naming every missing shard (absent index of I/N, or uncovered range of [0, 1]), parts of
    both kinds, parts whose rows do not tile the input exactly once, and parts of other settings."""
    folder = parts_dir(output)
    running = sorted(p.name.removesuffix(".ckpt") for p in folder.glob("*.ckpt"))
    by_kind = [[m["shard"] for m in markers if (m["count"] is None) == ranged] for ranged in (False, True)]
    if all(by_kind):
        raise InputError(
            f"{folder}: cannot merge --shard I/N parts ({_names(by_kind[0])}) with percentage-range "
            f"parts ({_names(by_kind[1])}); remove the kind that is left over from another run"
        )
    counts = {m["count"] for m in markers if m["count"] is not None}
    if len(counts) > 1 or (num_shards and counts and counts != {num_shards}):
        raise InputError(f"{folder}: parts from different shard counts {sorted(counts)}; remove the stale ones")
    total = num_shards or (counts.pop() if counts else None)
    problems = []
    if total is not None:
        done = {m["index"] for m in markers}
        missing = [i for i in range(total) if i not in done]
        if missing:
            problems.append(f"shards {', '.join(map(str, missing))} of {total} are missing or incomplete")
    else:
        edge = Fraction(0)
        for m in markers:
            start, end = Fraction(m["start"]), Fraction(m["end"])
            if start > edge:
                problems.append(f"range {float(edge):g}-{float(start):g} has no part")
            elif start < edge:
                problems.append(f"{m['shard']} overlaps the part before it")
            edge = max(edge, end)
        if edge < 1:
            problems.append(f"range {float(edge):g}-1 has no part")
    if not problems:
        problems += _row_gaps(markers)
    odd = [m for m in markers if m["fingerprint"] != markers[0]["fingerprint"]]
    if odd:
        change = describe_change(
            markers[0].get("settings") or {},
            odd[0].get("settings") or {},
            ignore=frozenset(markers[0].get("runtime_settings") or ()),
        )
        problems.append(
            f"{_names([m['shard'] for m in odd])} were made with other settings or input than "
            f"{markers[0]['shard']} ({change}); rerun the stale shards with --overwrite"
        )
    if problems:
        hint = f" (still running or killed: {', '.join(running)})" if running else ""
        raise IncompleteShardsError(f"{folder}: cannot merge: {'; '.join(problems)}{hint}")


def _names(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _row_gaps(markers: list[dict[str, Any]]) -> list[str]:
    """The parts' row ranges must cover ``[0, num_rows)`` exactly once, whatever their fractions say."""
    totals = sorted({m["num_rows"] for m in markers})
    if len(totals) > 1:
        return [f"parts were cut from inputs of {' and '.join(f'{t:,}' for t in totals)} rows"]
    edge, gaps = 0, []
    for m in sorted(markers, key=lambda m: tuple(m["rows"])):
        start, stop = m["rows"]
        if start < edge:
            gaps.append(f"{m['shard']} (rows {start:,}-{stop:,}) overlaps the rows before row {edge:,}")
        elif start > edge:
            gaps.append(f"rows {edge:,}-{start:,} are in no part")
        edge = max(edge, stop)
    if totals and edge != totals[0]:
        gaps.append(f"the parts end at row {edge:,} of {totals[0]:,}")
    return gaps


def verify_parts(markers: list[dict[str, Any]]) -> None:
    """Every part (and rejects file) must still be what its marker says; raise naming those that are not."""
    problems = []
    for m in markers:
        part = Path(m["_path"]).with_suffix(".jsonl")
        rejects = part.with_suffix(".rejects.jsonl")
        found = _scan(part)
        want = (m["records"], m.get("bytes", found[1]), m.get("sha256", found[2]))
        if found != want:
            problems.append(
                f"{part.name} holds {found[0]:,} records, {found[1]:,} bytes, but its marker says "
                f"{want[0]:,} records, {want[1]:,} bytes{', other content' if found[2] != want[2] else ''}"
            )
        if _scan(rejects)[0] != m["rejects"]:
            problems.append(f"{rejects.name} does not hold the {m['rejects']:,} rejects its marker counts")
        for name, meta in (m.get("arrays") or {}).items():
            path = array_path(part, name)
            if meta["rows"] != m["records"] or not path.exists() or file_sha256(path) != meta["sha256"]:
                problems.append(f"{path.name} is missing or not what its marker recorded")
    if problems:
        raise InputError(
            f"{parts_dir_of(markers)}: the parts changed after their shards finished (two runs on "
            f"one --output?): {'; '.join(problems)}. Rerun those shards with --overwrite, then merge"
        )


def parts_dir_of(markers: list[dict[str, Any]]) -> Path:
    return Path(markers[0]["_path"]).parent


def _scan(path: Path) -> tuple[int, int, str]:
    """(records, bytes, sha256) of a JSONL file; a missing file is empty."""
    digest, records, size = hashlib.sha256(), 0, 0
    if path.exists():
        with open(path, "rb") as fh:
            for line in fh:
                digest.update(line)
                size += len(line)
                records += bool(line.strip())
    return records, size, digest.hexdigest()


@contextmanager
def checked_parts(output: str | Path, num_shards: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The markers of a complete, consistent set of parts, each still what its marker says, with every
    shard's lock held (so no shard is rewritten under the caller) until the block ends."""
    markers = load_markers(output)
    check_complete(output, markers, num_shards)
    locks = [ShardLock(Path(m["_path"]).with_suffix(".lock"), "merge") for m in markers]
    try:
        verify_parts(markers)
        yield markers
    finally:
        for lock in locks:
            lock.release()


def part_paths(markers: list[dict[str, Any]]) -> list[Path]:
    return [Path(m["_path"]).with_suffix(".jsonl") for m in markers]


def merge(
    output: str | Path,
    num_shards: int | None = None,
    sort: list[dict[str, str]] | None = None,
    into: str | Path | None = None,
) -> dict[str, Any]:
    """Merge ``<output>.parts`` into ``output`` (or ``into``, for stages that post-process the merged
    records into ``output``) and write ``<that file>.stats.json``; returns the stats."""
    started = time.time()
    with checked_parts(output, num_shards) as markers:
        return _merge_locked(output, markers, sort, into, started)


def merge_rejects(output: str | Path, parts: list[Path]) -> Path | None:
    """The parts' quarantined rows joined into ``<output>.rejects.jsonl`` (an old one goes when none)."""
    rejects = [p.with_suffix(".rejects.jsonl") for p in parts if p.with_suffix(".rejects.jsonl").exists()]
    rejects_out = Path(f"{output}.rejects.jsonl")
    if rejects:
        write_lines(rejects_out, lambda: read_lines(rejects))
        return rejects_out
    rejects_out.unlink(missing_ok=True)
    return None


def _merge_locked(
    output: str | Path,
    markers: list[dict[str, Any]],
    sort: list[dict[str, str]] | None,
    into: str | Path | None,
    started: float,
) -> dict[str, Any]:
    parts = part_paths(markers)
    sort = sort if sort is not None else markers[0].get("sort")
    subset = markers[0].get("subset")
    if sort:
        order = _sorted_locations(parts, sort)
        lines = lambda: _read_at(parts, order)  # noqa: E731 - re-readable stream for write_lines
    else:
        lines = lambda: read_lines(parts)  # noqa: E731
    target = subset["all_to"] if subset else into or output
    for folder in {parts_dir_of(markers), *(Path(f).parent for f in (target, output))}:
        remove_stale_temporaries(folder)
    count = write_lines(target, lines)
    if subset:
        kept = write_lines(output, lambda: (line for line in lines() if orjson.loads(line).get(subset["field"])))
    rejects_out = merge_rejects(output, parts)
    summed: Counter = Counter()
    for m in markers:
        summed.update(m["counts"])
    counts, bins = report.split_pass_rate_bins(summed)
    rows_in = sum(m["rows"][1] - m["rows"][0] for m in markers)
    plot = markers[0].get("pass_rates")
    filters = markers[0].get("filter_plot")
    id_field = (markers[0].get("settings") or {}).get("id_field")
    duplicates = duplicate_ids(parts, id_field) if id_field else {}
    stats = {
        "output": str(into or output),
        "stage": markers[0]["stage"],
        "settings": markers[0].get("settings"),
        **({"all_records_to": subset["all_to"], "kept": kept} if subset else {}),
        "shards": len(markers),
        "rows_in": rows_in,
        "records": count,
        "rejects": sum(m["rejects"] for m in markers),
        "rejects_file": str(rejects_out) if rejects_out else None,
        "counts": counts,
        **(
            {"pass_rate_bins": bins, "pass_rate_png": str(pass_rate_plot(output, plot, counts, bins, rows_in))}
            if plot
            else {}
        ),
        **({"filter_png": str(filter_plot(output, filters, counts, rows_in))} if filters else {}),
        "sort": sort,
        "shard_seconds": {m["shard"]: m["seconds"] for m in markers},
        "worker_seconds": round(sum(m["seconds"] for m in markers), 3),
        "merge_seconds": round(time.time() - started, 3),
        **(
            {"duplicate_ids": sum(duplicates.values()), "duplicate_id_examples": list(duplicates)[:5]}
            if id_field
            else {}
        ),
    }
    if duplicates:
        print(
            f"warning: {sum(duplicates.values()):,} records of {target} repeat an id {id_field!r} that another "
            f"record has, e.g. {', '.join(map(repr, list(duplicates)[:3]))}; the input has duplicate ids",
            file=sys.stderr,
        )
    write_json_atomic(f"{into or output}.stats.json", stats)
    if subset:  # the every-row file is data too (the export's DPO pairs read it): its own stats, all its rows out
        every = {k: v for k, v in stats.items() if k not in ("kept", "all_records_to")}
        write_json_atomic(f"{subset['all_to']}.stats.json", {**every, "output": str(subset["all_to"])})
    return stats


def pass_rate_plot(
    output: str | Path, plot: dict[str, Any], counts: dict[str, int], bins: list[int], rows_in: int
) -> Path:
    """``<output stem>.pass_rates.png``: the rows per pass-rate bin, the kept band, and in the title what
    was read and kept and why the rest has no pass rate. Drawn from added-up counts only, so a sharded
    run draws the same picture as one run over all rows."""
    rated, without = sum(bins), plot.get("without") or {}
    missing = [f"{counts[key]:,} {label}" for key, label in without.items() if counts.get(key)]
    other = rows_in - rated - sum(counts.get(key, 0) for key in without)
    missing += [f"{other:,} unreadable or bad input"] if other else []
    out, (lo, hi) = Path(output), plot["band"]
    return report.pass_rate_png(
        out.with_name(out.stem + ".pass_rates.png"),
        bins,
        plot["band"],
        f"{plot['field']}: {rows_in:,} rows read, {counts.get('kept', 0):,} kept ({lo:g} <= pass rate <= {hi:g}, "
        "shaded)\n"
        f"{rated:,} with a pass rate; without one: {', '.join(missing) or 'none'}",
    )


def filter_plot(output: str | Path, plot: dict[str, Any], counts: dict[str, int], rows_in: int) -> Path:
    """``<output stem>.<plot["png"]>.png``: rows dropped per filter (``dropped:NAME``, the first that fired)
    beside the rows each fired on (``would_drop:NAME``), from added-up counts, in ``plot["order"]``."""
    order = {name: k for k, name in enumerate(plot.get("order") or [])}
    names = sorted(
        {k.split(":", 1)[1] for k in counts if k.startswith(("dropped:", "would_drop:"))},
        key=lambda n: (order.get(n, len(order)), n),
    )
    bars = {n: (counts.get(f"dropped:{n}", 0), counts.get(f"would_drop:{n}", 0)) for n in names}
    out = Path(output)
    title = f"{plot['title']}: {rows_in:,} rows read, {counts.get('kept', 0):,} kept"
    return report.filter_bars_png(out.with_name(f"{out.stem}.{plot['png']}.png"), bars, title)


def duplicate_ids(parts: list[Path], id_field: str) -> dict[str, int]:
    """Ids that more than one record carries, with how many records repeat each: ids come from the
    data, and a duplicate there makes any join by id ambiguous. Ids are kept as 8-byte digests."""
    digests: list[bytes] = []
    for line in read_lines(parts):
        digests.append(hashlib.blake2b(orjson.dumps(orjson.loads(line).get(id_field)), digest_size=8).digest())
    keys = np.frombuffer(b"".join(digests), dtype=np.uint64)
    _, first, seen = np.unique(keys, return_index=True, return_counts=True)
    if not (seen > 1).any():
        return {}
    repeated = dict(zip(first[seen > 1].tolist(), (seen[seen > 1] - 1).tolist()))
    return {
        str(orjson.loads(line).get(id_field)): repeated[k] for k, line in enumerate(read_lines(parts)) if k in repeated
    }


def read_lines(files: list[Path]) -> Iterator[bytes]:
    for path in files:
        with open(path, "rb") as fh:
            yield from (line for line in fh if line.strip())


def _sorted_locations(parts: list[Path], sort: list[dict[str, str]]) -> np.ndarray:
    """(part, offset, length) of every record, in sorted order; only keys are held in memory."""
    locs: list[tuple[int, int, int]] = []
    records: list[dict[str, Any]] = []
    for k, path in enumerate(parts):
        offset = 0
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    rec = orjson.loads(line)
                    records.append({s["field"]: rec.get(s["field"]) for s in sort})
                    locs.append((k, offset, len(line)))
                offset += len(line)
    table = np.array(locs, dtype=np.int64).reshape(-1, 3)
    return table[sort_order(records, sort)]


def _read_at(parts: list[Path], order: np.ndarray) -> Iterator[bytes]:
    fds = [os.open(p, os.O_RDONLY) for p in parts]
    try:
        for k, offset, length in order.tolist():
            yield os.pread(fds[k], length, offset)
    finally:
        for fd in fds:
            os.close(fd)
