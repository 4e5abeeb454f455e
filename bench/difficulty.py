"""Gold-answer log-probability: our batched, length-bucketed scorer vs the predecessor's way.

Same (question, answer) pairs, same model, one process:
  ours         GoldLogprobScorer: length-sorted batches under a token budget
  predecessor  batch size 1, every sequence padded to the longest one
  bare         one forward pass over exactly our batches' tokens, no bookkeeping (our floor)
Prints pairs/s and tokens/s for each, the speed-up, and our overhead over the bare forward passes.
The CPU default is a ~5M-parameter Llama with random weights (hidden 256, 6 layers).

Usage: python bench/difficulty.py [--pairs 256] [--hidden 256] [--layers 6]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / "_work"


def make_model(hidden: int, layers: int) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sftkit.models.tiny import TinySpec, build_tiny_model

    path = WORK / f"llama-{hidden}x{layers}"
    if not (path / "config.json").exists():
        build_tiny_model(path, TinySpec(steps=1))  # for its tokenizer and chat template
        torch.manual_seed(0)
        config = LlamaConfig.from_pretrained(path)
        config.hidden_size, config.intermediate_size, config.num_hidden_layers = hidden, 4 * hidden, layers
        config.num_attention_heads = config.num_key_value_heads = hidden // 32
        LlamaForCausalLM(config).save_pretrained(path)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=6)
    args = p.parse_args()
    import torch

    from sftkit.difficulty.logprob import GoldLogprobScorer

    path = make_model(args.hidden, args.layers)
    scorer = GoldLogprobScorer(str(path), dtype="fp32", token_budget=8192)
    params = sum(x.numel() for x in scorer.lm.parameters())
    rng = random.Random(0)
    pairs = [
        (
            f"What is {rng.randint(0, 99)} + {rng.randint(0, 99)}?",
            " ".join(f"step {k}: add the tens, then the units." for k in range(rng.choice([1, 2, 4, 8, 16, 40]))),
        )
        for _ in range(args.pairs)
    ]
    encoded = [scorer.encode(q, a) for q, a in pairs]
    tokens = sum(len(pr) + len(an) for pr, an, _ in encoded)
    scorer.score(pairs[:8])  # warm-up

    start = time.perf_counter()
    ours = scorer.score(pairs)
    t_ours = time.perf_counter() - start

    width = max(len(pr) + len(an) for pr, an, _ in encoded)
    start = time.perf_counter()
    for pr, an, _ in encoded:  # the predecessor: one pair at a time, padded to the longest
        ids = torch.full((1, width), scorer.pad)
        ids[0, : len(pr) + len(an)] = torch.tensor(pr + an)
        mask = (torch.arange(width) < len(pr) + len(an)).long()[None]
        with torch.no_grad():
            scorer.lm(input_ids=ids, attention_mask=mask)
    t_base = time.perf_counter() - start

    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    start = time.perf_counter()
    batch: list[int] = []
    size = lambda j: len(encoded[j][0]) + len(encoded[j][1])  # noqa: E731
    for i in [*order, None]:  # the same buckets as ours, then the forward passes alone
        grown = batch + ([i] if i is not None else [])
        if batch and (i is None or max(map(size, grown)) * len(grown) > scorer.budget):
            w = max(map(size, batch))
            ids = torch.full((len(batch), w), scorer.pad)
            for r, j in enumerate(batch):
                ids[r, : len(encoded[j][0]) + len(encoded[j][1])] = torch.tensor(encoded[j][0] + encoded[j][1])
            with torch.no_grad():
                scorer.lm(input_ids=ids)
            batch = []
        if i is not None:
            batch.append(i)
    t_bare = time.perf_counter() - start

    print(f"model: {params / 1e6:.1f}M parameters, {len(pairs)} pairs, {tokens:,} real tokens, longest {width}")
    for name, t in (("ours (bucketed)", t_ours), ("predecessor (bs 1, padded)", t_base), ("bare forward", t_bare)):
        print(f"{name:28s} {t:7.2f} s  {len(pairs) / t:8.1f} pairs/s  {tokens / t:10.0f} tokens/s")
    print(
        f"\nspeed-up over the predecessor: {t_base / t_ours:.1f}x; our overhead over bare forward passes: "
        f"{(t_ours / t_bare - 1) * 100:.0f}%"
    )
    assert all(r.avg_logprob is not None for r in ours)


if __name__ == "__main__":
    main()
