"""Cost of per-request seeds: vLLM generation with a seed per request (--seed-mode request, the default)
vs one engine seed (--seed-mode batch), same engine, same prompts, same sampling.

A request with its own seed gets its own torch.Generator, and vLLM's sampler then draws the noise of
such requests one at a time, in a Python loop, and skips FlashInfer's top-p/top-k kernel; without
seeds one batched draw serves the whole step. The runs alternate, so drift hits both alike. On CPU the
model is the tiny offline Llama (built once into bench/_work/); on a GPU pass --model (a real-size
checkpoint, random weights are fine: the vocabulary size is what the sampler pays for), --dtype bfloat16
and more --prompts (a full batch: the loop grows with the requests in a step).

Usage: python bench/seeds.py [--prompts 256] [--max-tokens 64] [--rounds 3] [--top-p 0.95] [--model PATH]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=256)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="alternating timed runs per mode")
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--model", help="model folder (default: the tiny CPU model)")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs (always on for the CPU model)")
    args = p.parse_args()
    from bench_engine import vllm_engine

    from sftkit.engines.base import Sampling

    engine, model = vllm_engine(args.model, args.dtype, args.enforce_eager or args.model is None)
    conversations = [
        [{"role": "user", "content": f"What is {i % 50} + {(7 * i) % 50}? ({i})"}] for i in range(args.prompts)
    ]
    sampling = Sampling(max_tokens=args.max_tokens, temperature=0.8, top_p=args.top_p, seed=0)
    engine.generate(conversations[:8], sampling)  # warm-up
    totals = {"request": [0, 0.0], "batch": [0, 0.0]}
    for _ in range(args.rounds):
        for mode in totals:
            engine.seed_mode = mode
            start = time.perf_counter()
            tokens = sum(s.tokens or 0 for c in engine.generate(conversations, sampling) for s in c.samples)
            seconds = time.perf_counter() - start
            totals[mode][0] += tokens
            totals[mode][1] += seconds
            print(f"  {mode:8s} {tokens:7d} tokens in {seconds:6.2f} s")
    rate = {mode: tokens / seconds for mode, (tokens, seconds) in totals.items()}
    for mode, (tokens, seconds) in totals.items():
        print(f"seed mode {mode:8s} {tokens:8d} output tokens in {seconds:7.2f} s = {rate[mode]:9.1f} tokens/s")
    print(
        f"\nthroughput ratio (batch / request) = {rate['batch'] / rate['request']:.3f}x "
        f"({args.prompts} prompts per call, model {model})"
    )


if __name__ == "__main__":
    main()
