"""JSONL to Parquet at ~1 GB: the uploader's converter vs pandas read_json + to_parquet.

Builds ~1 GB of synthetic SFT records (chat messages with long solutions) once in bench/_work/,
then converts it both ways, each in its own process so peak memory is measured separately:
  ours     sftkit.upload.convert (streamed in 64 MB blocks through pyarrow's JSON reader, zstd)
  pandas   the predecessor's way: pandas.read_json(lines=True), then DataFrame.to_parquet
It prints time and peak RSS for both, and the ratios.

Usage: python bench/upload.py [--gb 1.0]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"


def build(path: Path, gb: float) -> None:
    from sftkit.data.atomic import atomic_path, dumps_line
    from sftkit.synthetic import generate

    target = int(gb * 2**30)
    written = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for table in generate(10**9, seed=11):
            for i, row in enumerate(table.to_pylist()):
                record = {
                    "id": f"r{written}-{i}",
                    "source": row["problem_source"],
                    "score": row["pass_rate_72b_tir"],
                    "messages": [
                        {"role": "user", "content": row["problem"]},
                        {"role": "assistant", "content": row["generated_solution"]},
                    ],
                }
                line = dumps_line(record)
                out.write(line)
                written += len(line)
            if written >= target:
                return


def ours(src: Path, out_dir: Path) -> dict:
    from sftkit.export.layout import discover
    from sftkit.export.manifest import Manifest
    from sftkit.upload.convert import convert_config

    root = out_dir / "ds"
    (root / "sft").mkdir(parents=True)
    (root / "sft" / src.name).symlink_to(src)
    (result,) = convert_config(root, "sft", discover(root)["sft"], Manifest(root))
    return {"rows": result.rows, "parquet_mb": (root / result.source.output_rel).stat().st_size / 2**20}


def pandas(src: Path, out_dir: Path) -> dict:
    import pandas as pd

    df = pd.read_json(src, lines=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out_dir / "out.parquet")
    return {"rows": len(df), "parquet_mb": (out_dir / "out.parquet").stat().st_size / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gb", type=float, default=1.0)
    p.add_argument("--only", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--src", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.only:
        import pandas as _pd  # noqa: F401 - imports are not what we time
        import pyarrow.json  # noqa: F401

        import sftkit.upload.convert  # noqa: F401

        out_dir = WORK / f"upload_{args.only}"
        shutil.rmtree(out_dir, ignore_errors=True)
        start = time.perf_counter()
        info = {"ours": ours, "pandas": pandas}[args.only](args.src, out_dir)
        info["seconds"] = time.perf_counter() - start
        info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        shutil.rmtree(out_dir, ignore_errors=True)
        print(json.dumps(info))
        return
    src = WORK / f"sft_{args.gb:g}gb.jsonl"
    if not src.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        build(src, args.gb)
        print(f"built {src} ({src.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f}s")
    results = {}
    for name in ("ours", "pandas"):
        out = subprocess.run(
            [sys.executable, __file__, "--only", name, "--src", str(src)], capture_output=True, text=True, check=True
        )
        results[name] = r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{name:7s} {r['seconds']:7.1f} s   peak RSS {r['peak_rss_mb']:7.0f} MB   rows {r['rows']:,}   "
            f"parquet {r['parquet_mb']:.0f} MB"
        )
    speed = results["pandas"]["seconds"] / results["ours"]["seconds"]
    memory = results["ours"]["peak_rss_mb"] / results["pandas"]["peak_rss_mb"]
    print(f"\npandas / ours time = {speed:.1f}x (goal >= 3x); ours / pandas peak memory = {memory:.2f}")


if __name__ == "__main__":
    main()
