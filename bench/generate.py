"""Generation benchmarks, one section per --what:

engine   our vLLM path (the whole chunk in one call) vs the predecessor's batches of 4: the same vllm.LLM
         instance, prompts and sampling, in one process.
fanout   the general generate stage (template fill, --parse json-list, item checks, lineage rows) vs the bare
         engine on the same prompts and sampling: the overhead must stay <= 5%. The tiny model writes no JSON
         lists, so the parsing of realistic ones (8 items, one broken, ~1.5 KB) is timed apart as well, per
         completion, and set against the engine's time per completion.
novelty  the --novelty-against filter on a pool of --pool instructions (default 100k): build time, checks/s and
         peak memory, vs all-pairs ROUGE-L in a pure-Python loop with the rouge-score package (what the
         Self-Instruct code does), timed on a subset and extrapolated; decisions compared on that subset.

On CPU the model is the tiny offline Llama (built once into bench/_work/); on a GPU pass --model (a real-size
checkpoint, random weights are fine) and --dtype bfloat16.

Usage: python bench/generate.py [--what engine fanout novelty] [--prompts 128] [--max-tokens 64] [--model PATH]
                                [--pool 100000] [--candidates 2000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _engine_section(engine: Any, conversations: list[list[dict]], sampling: Any) -> None:
    results = {}
    for name, chunk in (("ours: one call per chunk", len(conversations)), ("predecessor: batches of 4", 4)):
        start = time.perf_counter()
        tokens = 0
        for s in range(0, len(conversations), chunk):
            for completion in engine.generate(conversations[s : s + chunk], sampling):
                tokens += sum(x.tokens or 0 for x in completion.samples)
        seconds = time.perf_counter() - start
        results[name] = (tokens, seconds)
        print(f"{name:28s} {tokens:7d} output tokens in {seconds:6.2f} s = {tokens / seconds:8.1f} tokens/s")
    (ours_t, ours_s), (base_t, base_s) = results.values()
    print(f"\nthroughput ratio (ours / batches of 4) = {(ours_t / ours_s) / (base_t / base_s):.1f}x")


REALISTIC = (
    "Here are eight new tasks:\n```json\n["
    + ",\n".join(
        json.dumps({"instruction": f"Task {k}: explain, with two examples, how {topic} affects everyday decisions."})
        for k, topic in enumerate(["inflation", "sleep", "weather", "traffic", "advertising", "habits", "tides"])
    )
    + ',\n{"instruction": "A broken item" "here"}]\n```\nI hope these help.'
)


def _fanout_section(engine: Any, rows: list[dict], sampling: Any, repeat: int) -> None:
    import numpy as np

    from sftkit.data.batch import Batch
    from sftkit.engines.base import Completion, Sample
    from sftkit.generate.generator import Generator
    from sftkit.generate.parse import parse_spec
    from sftkit.prompts import fill

    template = "Write new tasks like this one as a JSON list of objects with an instruction: {{instruction}}"
    spec = parse_spec("json-list:instruction")

    class Timed:
        """The engine, timed from inside the stage: the stage's own work is its total minus this."""

        seconds = 0.0

        def generate(self, conversations: list, sampling: Any) -> list:
            start = time.perf_counter()
            try:
                return engine.generate(conversations, sampling)
            finally:
                Timed.seconds += time.perf_counter() - start

    step = Generator(Timed(), sampling, template, spec, "id", {"engine": "bench"})
    batch = Batch(0, len(rows), "bench.jsonl", 0, np.arange(len(rows)), rows=rows)
    conversations = [[{"role": "user", "content": fill(template, r)}] for r in rows]
    bare, staged, own = [], [], []
    for _ in range(repeat):  # interleaved, the fastest of each: other processes share the cores
        start = time.perf_counter()
        completions = engine.generate(conversations, sampling)
        bare.append(time.perf_counter() - start)
        Timed.seconds = 0.0
        start = time.perf_counter()
        result = step(batch)
        staged.append(time.perf_counter() - start)
        own.append((staged[-1] - Timed.seconds) / Timed.seconds)
    samples = sum(len(c.samples) for c in completions)
    print(f"bare engine                 {min(bare):7.2f} s for {samples} completions")
    print(f"generate stage (json-list)  {min(staged):7.2f} s, {result.counts['generated']} generated")
    print(
        f"end to end: stage / bare = {min(staged) / min(bare):.3f} (the fastest of {repeat} each; on a loaded machine "
        "this swings with the load)"
    )
    print(
        f"overhead of the stage's own work (template, parsing, checks, rows) over its engine call: "
        f"{min(own):+.2%} (median {sorted(own)[len(own) // 2]:+.2%}; <= 5% wanted)"
    )
    # the parsing of realistic completions, apart: a stub engine replays one JSON list per prompt
    replay = type(
        "Replay",
        (),
        {"generate": lambda self, c, s: [Completion([Sample.from_text(REALISTIC, finish_reason="stop")]) for _ in c]},
    )()
    parser_only = Generator(replay, sampling, template, spec, "id", {})
    start = time.perf_counter()
    parsed = parser_only(batch)
    per = (time.perf_counter() - start) / len(rows)
    engine_per = min(bare) / samples
    print(
        f"realistic JSON lists: {per * 1e6:.0f} us per completion ({parsed.counts['kept']} items kept of "
        f"{parsed.counts['items']}) = {per / engine_per:.2%} of the tiny engine's "
        f"{engine_per * 1e3:.1f} ms per completion"
    )


VOCAB = [f"w{k}" for k in range(20_000)]
ZIPF = list(itertools.accumulate(1 / r for r in range(1, len(VOCAB) + 1)))  # word k: weight 1/(k+1)
STOP = ("the", "a", "of", "to", "and", "in", "for", "with", "how", "what", "write", "explain", "describe", "give")


def _instruction(rng: random.Random) -> str:
    """Instruction-like text: 8-30 words, a third of them from a few function words, the rest Zipf-distributed
    over a 20k vocabulary (the top word about 10% of them), as in English text."""
    n = rng.randint(8, 30)
    content = rng.choices(VOCAB, cum_weights=ZIPF, k=n)
    return " ".join(rng.choice(STOP) if rng.random() < 0.35 else word for word in content)


def _near(rng: random.Random, text: str) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = rng.choice(VOCAB)
    return " ".join(words)


def _novelty_section(pool_size: int, candidates: int, subset_pool: int, subset_candidates: int) -> None:
    from rouge_score import rouge_scorer

    from sftkit.generate.novelty import Novelty

    rng = random.Random(0)
    pool = [_instruction(rng) for _ in range(pool_size)]
    new = [_near(rng, rng.choice(pool)) if rng.random() < 0.2 else _instruction(rng) for _ in range(candidates)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    novelty = Novelty(0.7, pool)
    built = time.perf_counter() - start
    start = time.perf_counter()
    kept = 0
    for text in new:
        if novelty.similar(text) is None:
            novelty.add(text)
            kept += 1
    ours = candidates / (time.perf_counter() - start)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(
        f"ours (inverted index + bit-parallel LCS): pool {pool_size:,} built in {built:.1f} s; {ours:,.0f} checks/s "
        f"({kept:,} of {candidates:,} kept, each added to the index); peak memory +{peak:,.0f} MiB"
    )
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    small_pool, sample = pool[:subset_pool], new[:subset_candidates]
    start = time.perf_counter()
    theirs = [max(scorer.score(p, text)["rougeL"].fmeasure for p in small_pool) >= 0.7 for text in sample]
    per_pair = (time.perf_counter() - start) / (len(sample) * len(small_pool))
    rate = 1 / (per_pair * pool_size)
    print(
        f"rouge-score all pairs (pure Python): {per_pair * 1e6:.1f} us per pair, so {rate:.2f} checks/s "
        f"against {pool_size:,} (timed on {len(sample)} x {len(small_pool):,} pairs)"
    )
    print(f"speed ratio (ours / all pairs) = {ours / rate:,.0f}x")
    small = Novelty(0.7, small_pool)
    same = sum((small.match(text)[1] >= 0) == t for text, t in zip(sample, theirs, strict=True))
    print(f"same decision as rouge-score on the subset: {same} of {len(sample)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--what", nargs="+", default=["engine", "fanout", "novelty"])
    p.add_argument("--prompts", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--model", help="model folder (default: the tiny CPU model)")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pool", type=int, default=100_000)
    p.add_argument("--candidates", type=int, default=2_000)
    p.add_argument("--subset-pool", type=int, default=2_000)
    p.add_argument("--subset-candidates", type=int, default=20)
    args = p.parse_args()
    if "engine" in args.what or "fanout" in args.what:
        from bench_engine import vllm_engine

        from sftkit.engines.base import Sampling

        engine, _ = vllm_engine(args.model, args.dtype)
        conversations = [
            [{"role": "user", "content": f"What is {i % 50} + {(7 * i) % 50}?"}] for i in range(args.prompts)
        ]
        sampling = Sampling(max_tokens=args.max_tokens, temperature=0.8, seed=0)
        engine.generate(conversations[:8], sampling)  # warm-up
        if "engine" in args.what:
            print("== engine: one call per chunk vs batches of 4")
            _engine_section(engine, conversations, sampling)
        if "fanout" in args.what:
            print("== fanout: the generate stage vs the bare engine, same prompts")
            rows = [{"id": f"r{i}", "instruction": f"What is {i % 50} + {(7 * i) % 50}?"} for i in range(args.prompts)]
            _fanout_section(engine, rows, sampling, args.repeat)
    if "novelty" in args.what:
        print("== novelty: ROUGE-L < 0.7 against a pool")
        _novelty_section(args.pool, args.candidates, args.subset_pool, args.subset_candidates)


if __name__ == "__main__":
    main()
