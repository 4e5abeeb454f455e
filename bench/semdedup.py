"""Semantic dedup merge: sftkit's k-means partitioned search vs the all-pairs search a user would write.

Synthetic unit vectors (float16, 384-d, as a MiniLM/bge-small embedder gives) in 2,000 topics (cosines
within a topic about 0.4-0.6), with planted paraphrase pairs at cosine 0.90-0.99 and near misses at
0.80-0.85 (threshold 0.9, so the misses lie below threshold - 0.05). Each method runs in its own process
on the same vectors (read from one .npy), so its peak memory (maxrss) is its own:
  ours        sftkit.semdedup.search.similar_pairs (k-means, clusters of --cluster-size, --probe nearest
              clusters searched per row) + connected components + one row kept per component, as the merge
  blocked     every pair: blocks of 4,096 rows times all rows (numpy float32 matrix products)
  faiss-flat  faiss IndexFlatIP.range_search over every row (exact, all pairs)
  kmeans-*    the k-means choice: our numpy Lloyd vs faiss.Kmeans, same sample, k and iterations
The all-pairs methods are quadratic: they run on --subset rows (made the same way), and ours runs there
too for the ratio; their 1M time is extrapolated (x (rows / subset)^2). Recall on the subset is against
every pair >= threshold (blocked's), so it measures the pairs lost at cluster boundaries, per --probe.
Quality at full size: recall of the planted pairs, and planted near misses (cosine <= threshold - 0.05)
merged (must be 0).

Usage: python bench/semdedup.py [--rows 1000000] [--subset 50000] [--probes 1 2 3 4] [--probe 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftkit.dedup.clusters import components, keepers
from sftkit.semdedup.search import SAMPLE_PER_CENTROID, kmeans, similar_pairs

DIM, TOPICS, THRESHOLD = 384, 2000, 0.9


def at_cosine(u: np.ndarray, cos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows at exactly cosine ``cos`` (per row) from unit rows ``u``."""
    w = rng.normal(size=u.shape).astype(np.float32)
    w -= np.einsum("ij,ij->i", w, u)[:, None] * u
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return cos[:, None] * u + np.sqrt(1 - cos[:, None] ** 2) * w


def make(rows: int, path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``rows`` unit float16 vectors to ``path``; returns the planted pairs (source, copy) by kind. A
    twentieth of the rows are paraphrases of random earlier rows, a twentieth near misses."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, DIM))
    for lo in range(0, rows, 100_000):
        n = min(100_000, rows - lo)
        v = topics[rng.integers(0, TOPICS, n)] + rng.normal(size=(n, DIM)).astype(np.float32) * 0.055
        x[lo : lo + n] = v / np.linalg.norm(v, axis=1, keepdims=True)
    planted = {}
    copies = rng.permutation(np.arange(rows // 2, rows))[: rows // 10]
    for kind, (lo, hi), targets in (("paraphrase", (0.905, 0.99), copies[::2]), ("miss", (0.80, 0.85), copies[1::2])):
        sources = rng.integers(0, rows // 2, len(targets))
        u = x[sources].astype(np.float32)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        x[targets] = at_cosine(u, rng.uniform(lo, hi, len(targets)).astype(np.float32), rng)
        planted[kind] = np.stack([sources, targets], axis=1)
    x.flush()
    return planted


def ours(x: np.ndarray, cluster_size: int, probe: int) -> tuple[np.ndarray, dict]:
    found = similar_pairs(x, THRESHOLD, cluster_size=cluster_size, probe=probe, seed=0)
    labels = components(found.pairs, len(x))
    keep = keepers(labels, [])
    return found.pairs, {"removed": int((keep != np.arange(len(x))).sum()), "clusters": found.clusters}


def blocked(x: np.ndarray) -> tuple[np.ndarray, dict]:
    y = x.astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    out = []
    for lo in range(0, len(y), 4096):
        sims = y[lo : lo + 4096] @ y.T
        i, j = np.nonzero(sims >= THRESHOLD)
        i += lo
        out.append(np.stack([i, j], axis=1)[i < j])
    return np.concatenate(out).astype(np.int64), {}


def faiss_flat(x: np.ndarray) -> tuple[np.ndarray, dict]:
    import faiss

    y = x.astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(DIM)
    index.add(y)
    lims, _, ids = index.range_search(y, THRESHOLD)
    i = np.repeat(np.arange(len(y)), np.diff(lims).astype(np.int64))
    keep = i < ids
    return np.stack([i[keep], ids[keep]], axis=1).astype(np.int64), {}


def kmeans_numpy(x: np.ndarray, k: int) -> tuple[np.ndarray, dict]:
    kmeans(x, k, seed=0)
    return np.zeros((0, 2), np.int64), {"k": k}


def kmeans_faiss(x: np.ndarray, k: int) -> tuple[np.ndarray, dict]:
    import faiss

    rng = np.random.default_rng(0)
    sample = x[np.sort(rng.choice(len(x), min(len(x), k * SAMPLE_PER_CENTROID), replace=False))].astype(np.float32)
    km = faiss.Kmeans(DIM, k, niter=10, spherical=True, seed=0, max_points_per_centroid=SAMPLE_PER_CENTROID)
    km.train(sample)
    return np.zeros((0, 2), np.int64), {"k": k}


def child(method: str, path: str, rows: int, cluster_size: int, probe: int, out: str) -> None:
    x = np.load(path, mmap_mode="r")[:rows]
    x = np.ascontiguousarray(x)
    start = time.perf_counter()
    if method == "ours":
        pairs, extra = ours(x, cluster_size, probe)
    elif method.startswith("kmeans"):
        pairs, extra = (kmeans_numpy if method == "kmeans-numpy" else kmeans_faiss)(x, max(1, rows // cluster_size))
    else:
        pairs, extra = {"blocked": blocked, "faiss-flat": faiss_flat}[method](x)
    seconds = time.perf_counter() - start
    np.save(out, pairs)
    print(json.dumps({"seconds": seconds, "peak_gib": round(peak_gib(), 2), **extra}))


def peak_gib() -> float:
    """This process's peak resident memory: VmHWM is its own address space's (ru_maxrss keeps the parent's
    peak across fork and exec on Linux, which would count the generator's memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(method: str, path: Path, rows: int, cluster_size: int, probe: int = 2) -> tuple[dict, set]:
    out = path.with_name(f"pairs-{method}-{rows}-{probe}.npy")
    args = [method, str(path), str(rows), str(cluster_size), str(probe), str(out)]
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    pairs = np.load(out)
    return result, set(map(tuple, pairs.tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--subset", type=int, default=50_000)
    ap.add_argument("--cluster-size", type=int, default=1000)
    ap.add_argument("--probes", type=int, nargs="+", default=[1, 2, 3, 4], help="compared on the subset")
    ap.add_argument("--probe", type=int, default=3, help="the full-size run's")
    ap.add_argument("--workdir", default="/tmp/sftkit-bench-semdedup")
    ap.add_argument(
        "--parts",
        nargs="+",
        default=["kmeans", "subset", "full"],
        help="kmeans and full are optional; the subset always runs (the ratios need it)",
    )
    ap.add_argument("--child", nargs=6)
    a = ap.parse_args()
    if a.child:
        method, path, rows, size, probe, out = a.child
        child(method, path, int(rows), int(size), int(probe), out)
        return
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / "vectors.npy"
    planted = make(a.rows, path)
    print(f"{a.rows:,} x {DIM} float16 vectors ({a.rows * DIM * 2 / 2**30:.2f} GiB), threshold {THRESHOLD}")

    print(f"\n## k-means, k = {a.rows // a.cluster_size}, 10 iterations on {SAMPLE_PER_CENTROID} rows a centroid")
    for method in ("kmeans-numpy", "kmeans-faiss") if "kmeans" in a.parts else ():
        r, _ = run(method, path, a.rows, a.cluster_size)
        print(f"{method:14s} {r['seconds']:8.1f} s  peak {r['peak_gib']:.2f} GiB")

    sub = a.subset
    sub_path = work / "subset.npy"
    make(sub, sub_path, seed=1)
    print(f"\n## {sub:,} other rows of the same kind: every pair >= {THRESHOLD} (exact) vs ours, per --probe")
    truth_r, truth = run("blocked", sub_path, sub, a.cluster_size)
    flat_r, flat = run("faiss-flat", sub_path, sub, a.cluster_size)  # the subset is needed for the ratios
    print(f"blocked        {truth_r['seconds']:8.2f} s  peak {truth_r['peak_gib']:.2f} GiB  pairs {len(truth):,}")
    print(f"faiss-flat     {flat_r['seconds']:8.2f} s  peak {flat_r['peak_gib']:.2f} GiB  pairs {len(flat):,}")
    for probe in a.probes:
        r, pairs = run("ours", sub_path, sub, a.cluster_size, probe)
        recall = len(pairs & truth) / max(1, len(truth))
        print(
            f"ours probe {probe}   {r['seconds']:8.2f} s  peak {r['peak_gib']:.2f} GiB  recall {recall:.4f}  "
            f"pairs not in the truth {len(pairs - truth)}  "
            f"speed-up vs blocked {truth_r['seconds'] / r['seconds']:.1f}x, "
            f"vs faiss-flat {flat_r['seconds'] / r['seconds']:.1f}x"
        )

    if "full" not in a.parts:
        return
    scale = (a.rows / sub) ** 2
    print(f"\n## {a.rows:,} rows, probe {a.probe} (all-pairs times extrapolated x {scale:.0f})")
    r, pairs = run("ours", path, a.rows, a.cluster_size, a.probe)
    found = {k: sum((int(s), int(t)) in pairs for s, t in np.sort(v, axis=1).tolist()) for k, v in planted.items()}
    print(
        f"ours probe {a.probe}   {r['seconds']:8.1f} s  peak {r['peak_gib']:.2f} GiB  "
        f"planted paraphrases found {found['paraphrase']:,}/{len(planted['paraphrase']):,} "
        f"({found['paraphrase'] / len(planted['paraphrase']):.4f})  near misses merged {found['miss']}  "
        f"rows removed {r['removed']:,}\nextrapolated: blocked {truth_r['seconds'] * scale:,.0f} s "
        f"({truth_r['seconds'] * scale / r['seconds']:.0f}x ours), faiss-flat {flat_r['seconds'] * scale:,.0f} s "
        f"({flat_r['seconds'] * scale / r['seconds']:.0f}x ours)"
    )


if __name__ == "__main__":
    main()
