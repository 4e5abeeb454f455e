"""Dedup and decontamination quality on planted pairs with known truth (not speed: bench/dedup.py).

Dedup: pairs (source, copy) planted across the whole Jaccard range, and their truth:
  english  80-word texts (Zipf words) with 0-24 words replaced at spread positions; truth: the exact
           Jaccard of their word 3-grams (the stage's own sets);
  chinese  60-200-character texts (words drawn by frequency from jieba's dictionary, with punctuation)
           with 0-8 characters replaced; truth: the exact Jaccard of their character 5-grams.
A pair is found by our stage when it shares an LSH band and its estimated Jaccard reaches the
threshold (the merge's rule without --verify), with the stage's shingles (--ngram 3, --char-ngram C);
by datasketch when MinHashLSH(threshold, 112 permutations) returns it, over the same shingles (the
way datasketch is used: its LSH candidates are the duplicates). Precision and recall at the threshold
(truth J >= threshold), as the dedup literature reports them, plus recall per J bin. Unrelated pairs
are added as negatives. Numbers: the 10 LaTeX problem pairs differing in one number must never be
merged (default), and are with --normalize-numbers.

Decontamination: the LaTeX formatting variants, Chinese copies, the boilerplate case and a shared
instruction against the stage's matcher (sftkit.decontaminate.index).

Usage: python bench/dedup_quality.py [--pairs 500] [--char-ngram 2 3 4 5 6] [--section dedup decontaminate]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftkit.dedup.minhash import MinHasher, choose_bands, estimated_jaccard
from sftkit.dedup.rows import RowHasher
from sftkit.dedup.text import jaccard, ngram_set, normalize, words

THRESHOLD, NUM_PERM = 0.8, 112
PUNCTUATION = "，。；：？"


def chinese_vocabulary() -> tuple[list[str], list[float]]:
    """Words of jieba's dictionary written in Han characters, with their frequencies."""
    import jieba

    words_, weights = [], []
    with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
        for line in f:
            word, freq, _ = line.split(" ")
            if all("\u4e00" <= c <= "\u9fff" for c in word) and int(freq) >= 50:
                words_.append(word)
                weights.append(int(freq))
    return words_, weights


def chinese_texts(rng: random.Random, count: int) -> list[str]:
    """``count`` texts of 60-200 characters: frequent words with a punctuation mark every few words."""
    vocab, weights = chinese_vocabulary()
    out = []
    for _ in range(count):
        target, text = rng.randint(60, 200), ""
        while len(text) < target:
            text += "".join(rng.choices(vocab, weights, k=rng.randint(3, 7))) + rng.choice(PUNCTUATION)
        out.append(text[:target])
    return out


def change_characters(rng: random.Random, text: str, k: int, alphabet: str) -> str:
    """``text`` with k characters (not punctuation) at random distinct positions replaced by others."""
    chars = list(text)
    spots = [i for i, c in enumerate(chars) if c not in PUNCTUATION]
    for i in rng.sample(spots, k):
        chars[i] = rng.choice([c for c in rng.sample(alphabet, 5) if c != chars[i]])
    return "".join(chars)


def char_jaccard(a: str, b: str, k: int = 5) -> float:
    grams = [{t[i : i + k] for i in range(max(len(t) - k + 1, 1))} for t in (normalize(a), normalize(b))]
    return len(grams[0] & grams[1]) / len(grams[0] | grams[1])


def english_texts(rng: random.Random, count: int, n: int = 80) -> list[str]:
    vocab = [f"w{i}" for i in range(20_000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    return [" ".join(rng.choices(vocab, weights, k=n)) for _ in range(count)]


def replace_words(rng: random.Random, text: str, k: int) -> str:
    ws = text.split()
    for pos in np.linspace(2, len(ws) - 3, k).astype(int).tolist() if k else []:
        ws[pos] = f"new{rng.randrange(10**9)}"
    return " ".join(ws)


def planted(rng: random.Random, pairs: int, language: str) -> tuple[list[tuple[str, str]], list[int]]:
    """``pairs`` (source, copy) pairs with 0-24 words or 0-8 characters changed, and a tenth more of
    unrelated texts; returns the pairs and the number of changes (-1: unrelated)."""
    make = chinese_texts if language == "chinese" else english_texts
    sources = make(rng, pairs + pairs // 10 * 2)
    alphabet = "".join(dict.fromkeys("".join(sources[:200]))).translate({ord(c): None for c in PUNCTUATION})
    out, changes = [], []
    for i in range(pairs):
        k = rng.randint(0, 8) if language == "chinese" else rng.randint(0, 24)
        copy = (
            change_characters(rng, sources[i], k, alphabet)
            if language == "chinese"
            else replace_words(rng, sources[i], k)
        )
        out.append((sources[i], copy))
        changes.append(k)
    rest = sources[pairs:]
    out += list(zip(rest[::2], rest[1::2]))
    changes += [-1] * (len(rest) // 2)
    return out, changes


def hasher(chars: int, numbers: bool = False) -> RowHasher:
    return RowHasher(("t",), numbers, 3, MinHasher(NUM_PERM, *choose_bands(THRESHOLD, NUM_PERM)), None, "id", chars)


def ours_found(pairs: list[tuple[str, str]], h: RowHasher) -> np.ndarray:
    """Whether each pair is merged by the stage's rule: a shared band and estimated J >= the threshold."""
    a = h.arrays([{"t": x} for x, _ in pairs])
    b = h.arrays([{"t": y} for _, y in pairs])
    shared = (a["bands"] == b["bands"]).any(axis=1) | (a["exact"] == b["exact"])
    return shared & (estimated_jaccard(a["signature"], b["signature"]) >= THRESHOLD)


def datasketch_found(pairs: list[tuple[str, str]], h: RowHasher) -> np.ndarray:
    """Whether datasketch's MinHashLSH (threshold, 112 permutations) returns each pair, on the same shingles."""
    from datasketch import MinHash, MinHashLSH

    found = []
    for x, y in pairs:
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
        sigs = []
        for text in (x, y):
            m = MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch([str(g).encode() for g in ngram_set(words(h.text({"t": text})), h.n, h.chars).tolist()])
            sigs.append(m)
        lsh.insert("x", sigs[0])
        found.append("x" in lsh.query(sigs[1]))
    return np.array(found)


def scores(found: np.ndarray, truth: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    positive = truth >= threshold
    tp = int((found & positive).sum())
    return {
        "precision": tp / max(int(found.sum()), 1),
        "recall": tp / max(int(positive.sum()), 1),
        "positives": int(positive.sum()),
        "found": int(found.sum()),
    }


def binned(found: np.ndarray, truth: np.ndarray, edges: list[float]) -> list[str]:
    out = []
    for lo, hi in itertools.pairwise(edges):
        inside = (truth >= lo) & (truth < hi)
        if inside.any():
            out.append(f"[{lo:.2f},{hi:.2f}): {int(found[inside].sum())}/{int(inside.sum())}")
    return out


def dedup_section(args: argparse.Namespace) -> None:
    rng = random.Random(0)
    edges = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01]
    english, _ = planted(rng, args.pairs, "english")
    h = hasher(5)
    truth = np.array([jaccard(h.ngram_set({"t": x}), h.ngram_set({"t": y})) for x, y in english])
    for name, found in (("ours", ours_found(english, h)), ("datasketch", datasketch_found(english, h))):
        s = scores(found, truth)
        print(
            f"english word 3-grams  {name:10s} P {s['precision']:.3f} R {s['recall']:.3f} "
            f"({s['positives']} pairs J>=0.8, {s['found']} found)  " + "  ".join(binned(found, truth, edges))
        )
    chinese, changes = planted(rng, args.pairs, "chinese")
    truth = np.array([char_jaccard(x, y) for x, y in chinese])
    changes = np.array(changes)
    for chars in args.char_ngram:
        h = hasher(chars)
        for name, fn in (("ours", ours_found), ("datasketch", datasketch_found)):
            if name == "datasketch" and chars != 5:
                continue
            found = fn(chinese, h)
            s = scores(found, truth)
            r85 = found[truth >= 0.85].mean()
            per_change = " ".join(f"{k}:{found[changes == k].mean():.2f}" for k in (1, 2, 3))
            print(
                f"chinese char {chars}-grams {name:10s} P {s['precision']:.3f} R {s['recall']:.3f} "
                f"R(J5>=0.85) {r85:.3f} ({int((truth >= 0.85).sum())} pairs)  changed 1/2/3: {per_change}  "
                f"unrelated found {int(found[changes == -1].sum())}  " + "  ".join(binned(found, truth, edges))
            )


CASES = json.loads((Path(__file__).resolve().parent.parent / "tests/corpus/dedup_cases.json").read_text())


def numbers_section(args: argparse.Namespace) -> None:
    """The issue's 10 problem pairs that differ in one number: merged by default, and with --normalize-numbers."""
    from sftkit.dedup.text import jaccard as exact

    pairs = [tuple(p) for p in CASES["number_pairs"]]
    for numbers in (False, True):
        h = hasher(5, numbers)
        js = [exact(h.ngram_set({"t": a}), h.ngram_set({"t": b})) for a, b in pairs]
        merged = ours_found(pairs, h)
        label = "--normalize-numbers" if numbers else "default"
        print(
            f"number pairs, {label}: {int(merged.sum())} of {len(pairs)} merged (exact J {min(js):.2f}-{max(js):.2f})"
        )


def decontaminate_section(args: argparse.Namespace) -> None:
    """Issue 25's decontamination cases through the stage's matcher, per --min-hits: which are caught, which
    flagged; 4,000 unrelated rows ending in the instruction all 500 benchmark problems end in."""
    import tempfile

    from sftkit.data.sources import InputSpec, open_source
    from sftkit.decontaminate.index import BenchmarkIndex, BenchmarkSpec, Matcher

    chinese, boiler = CASES["chinese"], CASES["boilerplate"]
    rng = random.Random(5)
    instruction = [
        " ".join(f"w{rng.randrange(50_000)}" for _ in range(20)) + " " + CASES["instruction"] for _ in range(4500)
    ]
    problems = [c["problem"] for c in CASES["latex"]] + [chinese["problem"], boiler["problem"]] + instruction[:500]
    rows = (
        [c["copy"] for c in CASES["latex"]]
        + chinese["copies"]
        + [*CASES["other_numbers"], chinese["unrelated"], boiler["row"]]
        + instruction[500:]
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench, data = Path(tmp, "bench.jsonl"), Path(tmp, "rows.jsonl")
        bench.write_text("".join(json.dumps({"problem": p}) + "\n" for p in problems))
        data.write_text("".join(json.dumps({"id": str(k), "problem": t}) + "\n" for k, t in enumerate(rows)))
        for min_hits in (1, 2, 3):
            index = BenchmarkIndex(8, False, 12, min_hits)
            index.add(BenchmarkSpec.parse(f"{bench}:problem"), "error")
            matcher = Matcher(index, ("problem",), "id", 1.0)
            flagged = [
                bool(r["contaminated"])
                for b in open_source(InputSpec(str(data))).iter_all(8192)
                for r in matcher(b).records
            ]
            print(
                f"--min-hits {min_hits}: LaTeX variants caught {sum(flagged[:8])}/8, Chinese copies "
                f"{sum(flagged[8:10])}/2, other numbers or unrelated Chinese flagged {sum(flagged[10:14])}/4, "
                f"boilerplate flagged {sum(flagged[14:15])}/1, shared instruction flagged {sum(flagged[15:])}/"
                f"{len(rows) - 15} (stop-list: {index.stopped[0]} n-grams)"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=500)
    p.add_argument("--char-ngram", type=int, nargs="+", default=[5])
    p.add_argument("--section", nargs="+", default=["numbers", "decontaminate", "dedup"])
    args = p.parse_args(argv)
    sections: dict[str, Callable[[argparse.Namespace], None]] = {
        "dedup": dedup_section,
        "numbers": numbers_section,
        "decontaminate": decontaminate_section,
    }
    for name in args.section:
        if name in sections:
            sections[name](args)


if __name__ == "__main__":
    main()
