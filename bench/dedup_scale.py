"""The whole dedup stage at scale, step by step: wall time and peak memory of every task, each its own process.

  ours        selectors/dedup.py: --shards signature tasks, then the partitioned merge's steps (--merge-tasks
              pairs tasks over bands x key ranges, clusters over the pair files, facts and write per shard,
              finish), each task run as `--merge --merge-step S --merge-task T` under /usr/bin/time
  datasketch  one process: read the JSONL, datasketch.MinHash per row over the same normalized 3-grams,
              MinHashLSH(threshold 0.8, 112 permutations), query-then-insert, write the kept rows
  datatrove   datatrove 0.10.1's four MinHash stages (signatures, buckets, clusters, filter) with its
              LocalPipelineExecutor (1 task each, 11 buckets x 10 hashes, 3-grams), each stage its own process.
              datatrove's default xxhash hash fails with xxhash 4.x ("TypeError: Strings must be encoded
              before hashing": datatrove passes str); the bench patches datatrove.utils.hashes.xxhash's two
              functions to encode first (bench only; HashConfig(hash_fc="sha1") is the documented alternative,
              slower). Its English word tokenizer needs spacy (not installed): the bench passes a WordTokenizer
              that splits on spaces (the rows are space-separated words), which is cheaper than spacy.

Rows: --kind short: 8-24 Zipf words, a sixth planted copies (exact, near, middle, far as bench/dedup.py);
--kind templated: 1,000 templates of 20 words, each in --rows/1000 variants with 1-2 words changed (band
buckets over the cap of 256: the case a single-process merge held 6.2 GB for at 1M rows).
Peak memory is each process's maxrss (GNU time %M), so a memory map's touched pages count too.

Usage: python bench/dedup_scale.py --rows 1000000 [--kind short|templated] [--shards 4] [--merge-tasks 4]
       [--methods ours datasketch datatrove] [--work /tmp/dedup-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sftkit.dedup.merge import merge_steps  # noqa: E402

PY = sys.executable


def make_rows(path: Path, rows: int, kind: str, seed: int = 0) -> None:
    """``rows`` JSONL rows {"id", "problem"} of the given kind, written in blocks (never all held)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    templates = [" ".join(rng.choice(vocab, 20, p=p)) for _ in range(1000)]
    with open(path, "w") as out:
        for lo in range(0, rows, 100_000):
            n = min(100_000, rows - lo)
            lines = []
            if kind == "templated":
                for k in range(lo, lo + n):
                    ws = templates[k % 1000].split()
                    for pos in rng.integers(0, 20, size=1 + k % 2).tolist():
                        ws[pos] = f"v{rng.integers(10**9)}"
                    lines.append(" ".join(ws))
            else:
                lengths = rng.integers(8, 25, size=n)
                flat = rng.choice(vocab, int(lengths.sum()), p=p)
                edges = np.concatenate([[0], np.cumsum(lengths)])
                lines = [" ".join(flat[edges[i] : edges[i + 1]]) for i in range(n)]
                pick = random.Random(lo)
                for i in range(n * 5 // 6, n):  # a sixth: copies of earlier rows of the block
                    ws = lines[pick.randrange(n * 5 // 6)].split()
                    kind_of = i % 4
                    if kind_of == 0:
                        lines[i] = "  ".join(ws).upper()
                        continue
                    for pos in pick.sample(range(len(ws)), max(1, round((0.02, 0.06, 0.2)[kind_of - 1] * len(ws)))):
                        ws[pos] = f"x{pick.randrange(10**9)}"
                    lines[i] = " ".join(ws)
            out.write("".join(json.dumps({"id": lo + i, "problem": t}) + "\n" for i, t in enumerate(lines)))


def timed(cmd: list[str], log: Path) -> tuple[float, float]:
    """(seconds, peak MB) of one process."""
    with open(log, "a") as fh:
        proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *cmd], stdout=fh, stderr=subprocess.PIPE, text=True)
        fh.write(proc.stderr)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    seconds, kb = proc.stderr.strip().splitlines()[-1].split()[1:]
    return float(seconds), int(kb) / 1024


def run_ours(data: Path, work: Path, shards: int, tasks: int) -> dict[str, list[tuple[float, float]]]:
    out = work / "ours.jsonl"
    flags = ["--question-field", "problem", "--output", str(out), "--merge-tasks", str(tasks), "--overwrite"]
    script = str(REPO / "selectors/dedup.py")
    env_log = work / "ours.log"
    steps: dict[str, list[tuple[float, float]]] = {"signatures": []}
    for i in range(shards):
        shard = [PY, script, "--input", str(data), *flags, "--shard", f"{i}/{shards}"]
        steps["signatures"].append(timed(shard, env_log))
    merge = [f for f in flags if f != "--overwrite"] + ["--merge"]
    for step, count in merge_steps(shards, tasks, against=False):
        steps[step] = [
            timed([PY, script, *merge, "--merge-step", step, "--merge-task", str(t)], env_log) for t in range(count)
        ]
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    print(
        f"  ours: kept {stats['kept']:,}, exact {stats['exact_duplicates']:,}, near {stats['near_duplicates']:,}, "
        f"candidates {stats['candidate_pairs']:,}, near pairs {stats['near_pairs']:,}, "
        f"rows touched {stats['rows_touched_by_pairs']:,}, capped {stats['rows_in_capped_buckets']:,}"
    )
    return steps


DATASKETCH = """
import sys, orjson
from datasketch import MinHash, MinHashLSH
from sftkit.dedup.text import normalize, words
src, dst = sys.argv[1:3]
lsh, kept = MinHashLSH(threshold=0.8, num_perm=112), 0
perm = MinHash(num_perm=112).permutations  # made once (affine32, the default scheme), shared by every row
with open(src, 'rb') as fh, open(dst, 'wb') as out:
    for line in fh:
        r = orjson.loads(line)
        ws = words(normalize(r['problem']))
        m = MinHash(num_perm=112, permutations=perm, scheme="affine32")
        m.update_batch([' '.join(ws[i:i + 3]).encode() for i in range(max(1, len(ws) - 2))])
        if not lsh.query(m):
            lsh.insert(r['id'], m)
            out.write(line)
            kept += 1
print('kept', kept, file=sys.stderr)
"""

DATATROVE = """
import sys
import xxhash
import datatrove.utils.hashes.xxhash as dx
dx.xxhash32 = lambda s: xxhash.xxh32_intdigest(s.encode() if isinstance(s, str) else s)  # xxhash 4.x wants bytes
dx.xxhash64 = lambda s: xxhash.xxh64_intdigest(s.encode() if isinstance(s, str) else s)
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
    MinhashDedupFilter, MinhashDedupSignature)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.word_tokenizers import WordTokenizer
class Split(WordTokenizer):  # its English tokenizer needs spacy; the rows are space-separated words
    def word_tokenize(self, text): return text.split()
    def sent_tokenize(self, text): return [text]
    def span_tokenize(self, text): return [(0, len(text))]
stage, data, work = sys.argv[1:4]
cfg = MinhashConfig(n_grams=3, num_buckets=11, hashes_per_bucket=10)
reader = JsonlReader(data, text_key='problem', id_key='id', doc_progress=False)
pipes = {
    'signatures': [reader, MinhashDedupSignature(output_folder=f'{work}/sigs', config=cfg, language=Split())],
    'buckets': [MinhashDedupBuckets(input_folder=f'{work}/sigs', output_folder=f'{work}/buckets', config=cfg)],
    'clusters': [MinhashDedupCluster(input_folder=f'{work}/buckets', output_folder=f'{work}/remove', config=cfg)],
    'filter': [reader, MinhashDedupFilter(input_folder=f'{work}/remove'), JsonlWriter(f'{work}/out')],
}
tasks = cfg.num_buckets if stage == 'buckets' else 1
LocalPipelineExecutor(pipeline=pipes[stage], tasks=tasks, workers=1, logging_dir=f'{work}/logs-{stage}').run()
"""


def run_datasketch(data: Path, work: Path) -> dict[str, list[tuple[float, float]]]:
    env_log = work / "datasketch.log"
    return {"all": [timed([PY, "-c", DATASKETCH, str(data), str(work / "datasketch.jsonl")], env_log)]}


def run_datatrove(data: Path, work: Path) -> dict[str, list[tuple[float, float]]]:
    folder = work / "datatrove"
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    env_log = work / "datatrove.log"
    return {
        stage: [timed([PY, "-c", DATATROVE, stage, str(data), str(folder)], env_log)]
        for stage in ("signatures", "buckets", "clusters", "filter")
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--kind", choices=("short", "templated"), default="short")
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--merge-tasks", type=int, default=4)
    p.add_argument("--methods", nargs="+", default=["ours", "datasketch", "datatrove"])
    p.add_argument("--work", type=Path, default=Path("/tmp/dedup-scale"))
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    data = a.work / f"{a.kind}-{a.rows}.jsonl"
    if not data.exists():
        started = time.time()
        make_rows(data, a.rows, a.kind)
        print(f"made {a.rows:,} {a.kind} rows in {time.time() - started:.0f} s ({data.stat().st_size / 1e6:.0f} MB)")
    os.environ["PYTHONPATH"] = str(REPO)
    runs = {
        "ours": lambda: run_ours(data, a.work, a.shards, a.merge_tasks),
        "datasketch": lambda: run_datasketch(data, a.work),
        "datatrove": lambda: run_datatrove(data, a.work),
    }
    print(f"{a.rows:,} {a.kind} rows; per step: tasks, summed task seconds, peak MB of any task (GNU time maxrss)")
    for method in a.methods:
        steps = runs[method]()
        total = sum(s for tasks in steps.values() for s, _ in tasks)
        for step, tasks in steps.items():
            secs = sum(s for s, _ in tasks)
            peak = max(m for _, m in tasks)
            print(f"  {method:10} {step:10} {len(tasks):3} tasks {secs:8.1f} s {peak:8.0f} MB peak", flush=True)
        peak = max(m for tasks in steps.values() for _, m in tasks)
        print(
            f"  {method:10} {'TOTAL':10} {total:8.1f} task-s, {a.rows / total:,.0f} rows/s per core, "
            f"{peak:,.0f} MB peak per task, {total / a.rows * 1e6:.1f} us/row"
        )


if __name__ == "__main__":
    main()
