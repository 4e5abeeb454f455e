"""Generation throughput: our vLLM path (the whole chunk in one call) vs the predecessor's batches of 4.

Both run on the same vllm.LLM instance, same prompts, same sampling, in one process. On CPU the
model is the tiny offline Llama (built once into bench/_work/); on a GPU pass --model (a real-size
checkpoint, random weights are fine) and --dtype bfloat16.

Usage: python bench/generate.py [--prompts 128] [--max-tokens 64] [--model PATH]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--model", help="model folder (default: the tiny CPU model)")
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    from bench_engine import vllm_engine

    from sftkit.engines.base import Sampling

    engine, _ = vllm_engine(args.model, args.dtype)
    conversations = [[{"role": "user", "content": f"What is {i % 50} + {(7 * i) % 50}?"}] for i in range(args.prompts)]
    sampling = Sampling(max_tokens=args.max_tokens, temperature=0.8, seed=0)
    engine.generate(conversations[:8], sampling)  # warm-up
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


if __name__ == "__main__":
    main()
