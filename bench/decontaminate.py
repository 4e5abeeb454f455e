"""Decontamination: the benchmark index's cost at the shortcuts' sizes, and what --minhash adds.

index   builds the n-gram index (n = 8) for synthetic benchmarks of each shortcut's size (items x
        mean words per item, Zipf-distributed words): time, the index's arrays, and the traced peak
        (tracemalloc) while building, which the words of the problems as Python strings dominate.
minhash planted rewordings: synthetic problems (25-80 Zipf words) with 10, 15 or 20% of their words
        substituted by new words at evenly spread positions (each moved by up to one word); recall
        counts those the 8-gram rule misses (no shared 8-gram) that --minhash flags, per MinHash
        n-gram size and threshold. False positives: rows flagged by MinHash only, for unrelated
        synthetic problems and for the demo data's distinct problems (templates with other numbers)
        against the other half of them as the benchmark; and, flagged (not an error by every
        definition), long problems with their 3 numbers drawn again.

min-hits what --min-hits K costs in recall (copies with 0-30% of their words replaced, the 8-gram
        rule alone) and saves in false flags (unrelated problems; the demo data's sibling templates).

Usage: python bench/decontaminate.py [--rewordings 600] [--part index minhash min-hits]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftkit.data.sources import InputSpec, open_source
from sftkit.decontaminate.index import HITS_FIELD, MIN_HITS, BenchmarkIndex, BenchmarkSpec, Matcher
from sftkit.dedup.minhash import MinHasher, choose_bands

REPO = Path(__file__).resolve().parent.parent
# items, mean words per problem (assumed; HLE's questions run long, so 300)
SIZES = {
    "math500": (500, 50),
    "aime": (90, 70),
    "amc": (83, 70),
    "gsm8k": (1319, 50),
    "gpqa-diamond": (198, 90),
    "hle": (2500, 300),
    "all six": (4690, 0),
}
VOCAB = [f"w{i}" for i in range(20_000)]
WEIGHTS = [1 / (i + 1) for i in range(len(VOCAB))]


def problem(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(VOCAB, WEIGHTS, k=words))


def write(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"p{i}", "problem": t}) + "\n" for i, t in enumerate(texts)))
    return path


def index_costs(tmp: Path) -> None:
    rng = random.Random(0)
    files = {
        name: write(tmp / f"{name}.jsonl", [problem(rng, max(5, int(rng.gauss(w, w / 2)))) for _ in range(n)])
        for name, (n, w) in SIZES.items()
        if w
    }
    print("| benchmarks | items | grams | index MB | build s | peak MB while building |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (n, _) in SIZES.items():
        chosen = list(files.values()) if name == "all six" else [files[name]]
        started = time.perf_counter()
        index = build(chosen)
        seconds = time.perf_counter() - started
        tracemalloc.start()  # a second build, traced (tracing slows it down)
        build(chosen)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        keys, items = index._sorted()
        print(
            f"| {name} | {n:,} | {len(keys):,} | {(keys.nbytes + items.nbytes) / 2**20:.1f} | {seconds:.2f} | "
            f"{peak:.1f} |"
        )


def build(files: list[Path]) -> BenchmarkIndex:
    index = BenchmarkIndex(8, False)
    for f in files:
        index.add(BenchmarkSpec.parse(f"{f}:problem"), "error")
    index._sorted()
    return index


def flagged(
    tmp: Path, bench: list[str], rows: list[str], n: int, threshold: float | None, min_hits: int = MIN_HITS
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: flagged by the 8-gram rule, flagged at all (with --minhash over n-grams at threshold; None:
    without --minhash)."""
    minhash = MinHasher(112, *choose_bands(threshold, 112)) if threshold else None
    index = BenchmarkIndex(8, False, min_hits=min_hits, minhash=minhash, minhash_n=n)
    index.add(BenchmarkSpec.parse(f"{write(tmp / 'bench.jsonl', bench)}:problem"), "error")
    matcher = Matcher(index, ("problem",), "id", threshold or 1.0)
    by_ngram, any_hit = [], []
    for batch in open_source(InputSpec(str(write(tmp / "rows.jsonl", rows)))).iter_all(4096):
        for r in matcher(batch).records:
            best = r[HITS_FIELD]  # the row's best match, or None
            by_ngram.append(best is not None and best["ngram"] is not None)
            any_hit.append(best is not None)
    return np.array(by_ngram), np.array(any_hit)


def reword(rng: random.Random, sources: list[str], shares: tuple[float, ...]) -> tuple[list[str], np.ndarray]:
    """Each source with a share of its words (cycling through ``shares``) replaced by new words, spread
    out as a rewording does, each moved a little; returns the texts and each one's share."""
    reworded, share = [], []
    for k, text in enumerate(sources):
        ws = text.split()
        share.append(shares[k % len(shares)])
        k = max(1, round(share[-1] * len(ws))) if share[-1] else 0
        for pos in np.linspace(0, len(ws) - 1, k + 2)[1:-1].round().astype(int).tolist():
            ws[min(len(ws) - 1, max(0, pos + rng.randint(-1, 1)))] = f"new{rng.randrange(10**9)}"
        reworded.append(" ".join(ws))
    return reworded, np.array(share)


def demo_problems() -> list[str]:
    lines = (REPO / "data/demo/openmath_demo.jsonl").read_text().splitlines()
    return list(dict.fromkeys(json.loads(line)["problem"] for line in lines))


def min_hits_grid(tmp: Path, count: int) -> None:
    """What --min-hits K costs in recall (copies with 0-30% of their words replaced, 8-gram rule only) and
    saves in false flags (unrelated problems; the demo data's sibling templates, other numbers)."""
    rng = random.Random(2)
    sources = [problem(rng, rng.randint(25, 80)) for _ in range(count)]
    shares = (0.0, 0.05, 0.10, 0.20, 0.30)
    reworded, share = reword(rng, sources, shares)
    unrelated = [problem(rng, rng.randint(25, 80)) for _ in range(count)]
    demo = demo_problems()
    half = len(demo) // 2
    print(f"| --min-hits | {' / '.join(f'{s:.0%}' for s in shares)} replaced | FP unrelated | FP demo ({half}) |")
    print("| --- | --- | --- | --- |")
    for k in (1, 2, 3, 4, 6):
        by_ngram, _ = flagged(tmp, sources, reworded + unrelated, 2, None, k)
        recall = [by_ngram[:count][share == s].mean() for s in shares]
        demo_flags, _ = flagged(tmp, demo[:half], demo[half:], 2, None, k)
        print(
            f"| {k} | {' / '.join(f'{r:.3f}' for r in recall)} | {by_ngram[count:].mean():.4f} | "
            f"{demo_flags.mean():.4f} ({demo_flags.sum()}) |"
        )


def minhash_grid(tmp: Path, count: int) -> None:
    rng = random.Random(1)
    sources = [problem(rng, rng.randint(25, 80)) for _ in range(count)]
    reworded, share = reword(rng, sources, (0.10, 0.15, 0.20))
    unrelated = [problem(rng, rng.randint(25, 80)) for _ in range(count)]
    siblings = []  # the same long template, its 3 numbers drawn again: another problem by our definition
    for template in sources[: count // 2]:
        ws = template.split()
        at = rng.sample(range(len(ws)), 3)
        for _ in range(2):
            for k in at:
                ws[k] = str(rng.randint(2, 999))
            siblings.append(" ".join(ws))
    demo = demo_problems()
    half = len(demo) // 2
    print(
        "| n | threshold | missed by 8-grams | recall 10% / 15% / 20% | FP unrelated | FP demo | long template, "
        "3 numbers changed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in (1, 2, 3):
        for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
            by_ngram, hit = flagged(tmp, sources, reworded + unrelated, n, threshold)
            missed = ~by_ngram[:count]
            recall = [hit[:count][missed & (share == s)].mean() for s in (0.10, 0.15, 0.20)]
            fp_unrelated = (hit[count:] & ~by_ngram[count:]).mean()
            by_ngram, hit = flagged(tmp, demo[:half], demo[half:], n, threshold)
            fp_demo = (hit & ~by_ngram).mean()
            by_ngram, hit = flagged(tmp, siblings[::2], siblings[1::2], n, threshold)
            fp_sibling = (hit & ~by_ngram).mean()
            print(
                f"| {n} | {threshold} | {missed.sum()} of {count} | "
                f"{' / '.join(f'{r:.3f}' for r in recall)} | {fp_unrelated:.4f} | {fp_demo:.4f} | {fp_sibling:.3f} |"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rewordings", type=int, default=600)
    p.add_argument(
        "--part", nargs="+", default=["index", "minhash", "min-hits"], choices=["index", "minhash", "min-hits"]
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if "index" in args.part:
            index_costs(Path(tmp))
        if "minhash" in args.part:
            minhash_grid(Path(tmp), args.rewordings)
        if "min-hits" in args.part:
            min_hits_grid(Path(tmp), args.rewordings)


if __name__ == "__main__":
    main()
