"""Length selector at OpenMathReasoning scale: us vs the pyarrow floor vs the predecessor's way.

Builds a 3M-row synthetic Parquet file once (bench/_work/), then times, each in its own process
so peak memory is measured separately:
  floor     read the length column alone with pyarrow, pq.read_table(columns=[...])
  floor_stream  the same column streamed in batches (pyarrow's cheapest read; nothing kept)
  ours      the length selector's full selection, records fetched (no output writing)
  baseline  the predecessor's way: stream the dataset with datasets.load_dataset(streaming=True),
            iterate rows one by one, len(str(...)), bucket by edges from a 1000-row sample, and
            reservoir-sample each bin (Algorithm R)
  rowloop   the same per-row loop fed by pyarrow batches instead of datasets streaming: the
            fastest a per-row Python design gets, shown so the ratio is not flattered

Usage: python bench/length_selector.py [--rows 3000000] [--total 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"
FIELD = "generated_solution"


def floor(path: Path, args: argparse.Namespace) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=[FIELD])
    return {"rows": table.num_rows}


def floor_stream(path: Path, args: argparse.Namespace) -> dict:
    import pyarrow.parquet as pq

    rows = sum(b.num_rows for b in pq.ParquetFile(path).iter_batches(batch_size=8192, columns=[FIELD]))
    return {"rows": rows}


def ours(path: Path, args: argparse.Namespace) -> dict:
    from sftkit.data.sources import InputSpec, open_source
    from sftkit.select.length import select_by_length

    sel = select_by_length(
        open_source(InputSpec(str(path))),
        lambda b: b.char_lengths(FIELD),
        args.total,
        6,
        2.0,
        seed=0,
        id_field="id",
        on_bad_record="error",
        field_name=FIELD,
    )
    return {"rows": sel.rows_seen, "selected": len(sel.records), "second_pass": sel.second_pass}


def _datasets_rows(path: Path) -> Iterator[dict]:
    import datasets

    return iter(datasets.load_dataset("parquet", data_files=str(path), split="train", streaming=True))


def _arrow_rows(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        yield from batch.to_pylist()


def baseline(path: Path, args: argparse.Namespace, rows_of: Callable[[Path], Iterator[dict]] = _datasets_rows) -> dict:
    import itertools
    import math

    rng = random.Random(0)
    sample = sorted(len(str(r[FIELD])) for r in itertools.islice(rows_of(path), 1000))
    edges = [sample[len(sample) * k // 6] for k in range(1, 6)]
    weights = [math.exp(-0.5 * (2.0 * (5 - b) / 5) ** 2) for b in range(6)]
    quotas = [int(args.total * w / sum(weights)) for w in weights]
    reservoirs: list[list[dict]] = [[] for _ in range(6)]
    seen = [0] * 6
    rows = 0
    for row in rows_of(path):
        rows += 1
        length = len(str(row[FIELD]))
        b = sum(length >= e for e in edges)
        seen[b] += 1
        if len(reservoirs[b]) < quotas[b]:
            reservoirs[b].append(row)
        else:
            j = rng.randrange(seen[b])
            if j < quotas[b]:
                reservoirs[b][j] = row
    return {"rows": rows, "selected": sum(len(r) for r in reservoirs)}


def rowloop(path: Path, args: argparse.Namespace) -> dict:
    return baseline(path, args, rows_of=_arrow_rows)


CONTENDERS = {"floor": floor, "floor_stream": floor_stream, "ours": ours, "baseline": baseline, "rowloop": rowloop}


def run_one(name: str, path: Path, args: argparse.Namespace) -> dict:
    import datasets  # noqa: F401 - imports are not what we time
    import pyarrow.parquet  # noqa: F401

    import sftkit.select.length  # noqa: F401

    start = time.perf_counter()
    info = CONTENDERS[name](path, args)
    info["seconds"] = time.perf_counter() - start
    info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--total", type=int, default=10_000)
    p.add_argument("--only", choices=list(CONTENDERS), help=argparse.SUPPRESS)
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.only:
        print(json.dumps(run_one(args.only, args.data, args)))
        return
    from sftkit.synthetic import write_dataset

    data = WORK / f"openmath_synthetic_{args.rows}.parquet"
    if not data.exists():
        t = time.perf_counter()
        write_dataset(data, args.rows)
        print(f"built {data} ({data.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f}s")
    results = {}
    for name in CONTENDERS:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--only",
                name,
                "--data",
                str(data),
                "--rows",
                str(args.rows),
                "--total",
                str(args.total),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[name]
        print(f"{name:12s} {r['seconds']:8.2f} s   peak RSS {r['peak_rss_mb']:8.0f} MB   {r}")
    fl, fs, us, base, loop = (results[k]["seconds"] for k in ("floor", "floor_stream", "ours", "baseline", "rowloop"))
    print(f"\nours / floor    = {us / fl:.2f}x   (goal <= 2x)")
    print(f"ours / floor_stream = {us / fs:.2f}x")
    print(f"baseline / ours = {base / us:.1f}x   (goal >= 20x)")
    print(f"rowloop / ours  = {loop / us:.1f}x")


if __name__ == "__main__":
    main()
