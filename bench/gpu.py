"""The vLLM GPU path on a real-size model with random weights, in one run, each figure against bare vLLM:

  generation   output tokens/s of VLLMEngine.generate vs a bare LLM.chat on the same LLM instance, same
               prompts and SamplingParams (temperature 0.8, our per-request seeds; --seed-mode request and
               batch). Our engine has no ignore_eos, but random weights over a large vocabulary almost never
               draw EOS, so both produce ~max_tokens per prompt; the counts are printed.
  model switch the production close path (sftkit.runner.passes.Loaded: engine close, gc, empty_cache) and the load
               of a second model (same config, another seed): seconds, and GPU memory in use
               (torch.cuda.mem_get_info) before the first load, after it, after release, after the second.
  scoring      VLLMGoldLogprob on K question/answer pairs of ~2k and ~16k tokens vs a bare
               LLM.generate(SamplingParams(max_tokens=1, prompt_logprobs=0)) on the same token ids.

The model is built from an embedded public config (Qwen3-8B: ~16 GB of bf16 weights, created on the meta
device and filled in place, on the GPU where there is one) with the tiny offline model's byte-level BPE
tokenizer and chat template; everything is cached in bench/_work/. --preset tiny runs the same code on
CPU as a smoke test (its figures mean nothing).

Usage (GPU): python bench/gpu.py
Usage (CPU smoke): python bench/gpu.py --preset tiny --prompts 8 --max-tokens 16 --pairs 2 --lengths 128 512
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / "_work"

# public architecture configs; the tiny one keeps a vocabulary larger than the tokenizer's, as Qwen3 does
PRESETS: dict[str, dict[str, Any]] = {
    "qwen3-8b": {
        "hidden_size": 4096,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "intermediate_size": 12288,
        "vocab_size": 151936,
        "rope_theta": 1e6,
        "max_position_embeddings": 40960,
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
    },
    "tiny": {
        "hidden_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "intermediate_size": 256,
        "vocab_size": 4096,
        "rope_theta": 1e6,
        "max_position_embeddings": 40960,
        "tie_word_embeddings": False,
        "dtype": "float32",
    },
}


def build_model(preset: str, seed: int) -> Path:
    """A random-weight checkpoint of ``preset`` with the tiny model's tokenizer. Weights are allocated
    uninitialised (meta device, then ``to_empty``) and filled once, so 16 GB takes seconds, not the
    minutes of transformers' per-module init."""
    path = WORK / f"{preset}-seed{seed}"
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from sftkit.models.tiny import TinySpec, build_tiny_model

    tok_dir = WORK / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        build_tiny_model(tok_dir, TinySpec(steps=1))  # only its tokenizer and chat template are used
    tok = AutoTokenizer.from_pretrained(tok_dir)
    config = Qwen3Config(
        **PRESETS[preset], eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None
    )
    assert config.vocab_size >= len(tok), "the model must cover every tokenizer id"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device("meta"):
        model = Qwen3ForCausalLM(config).to(getattr(torch, PRESETS[preset]["dtype"]))
    model = model.to_empty(device=device)
    gen = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():  # norms at 1, matrices small: finite activations through 36 layers
            if param.dim() == 1:
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02, generator=gen)
    tmp = path.with_name(path.name + ".tmp")
    model.save_pretrained(tmp)  # safetensors, sharded
    tok.save_pretrained(tmp)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    tmp.rename(path)
    return path


def used_gib() -> float | None:
    """GPU memory in use on the whole device (any process), or None without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**30


def alternate(runs: dict[str, Callable[[], int]], rounds: int) -> dict[str, tuple[int, float]]:
    """Units and seconds of each run summed over ``rounds``, the runs taking turns so drift hits all alike."""
    totals = {name: (0, 0.0) for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            units = run()
            units_sum, seconds_sum = totals[name]
            totals[name] = (units_sum + units, seconds_sum + time.perf_counter() - start)
    return totals


def qa_pairs(tokenizer: Any, count: int, length: int) -> list[tuple[str, str]]:
    """``count`` distinct pairs of about ``length`` tokens, a quarter of them answer; distinct numbers
    keep vLLM's prefix cache from serving one pair's prefill to the next."""
    unit = "Add the tens, then the units, and carry the one. "
    per_unit = len(tokenizer(unit, add_special_tokens=False)["input_ids"])
    question_units, answer_units = max(1, 3 * length // 4 // per_unit), max(1, length // 4 // per_unit)
    return [
        (f"Pair {k}. {unit * question_units}What is {k} + {k}?", unit * answer_units + f"\\boxed{{{2 * k}}}")
        for k in range(count)
    ]


Row = tuple[str, str, str, str]  # measure, ours, bare, ours / bare


def measure_generation(engine: Any, prompts: int, max_tokens: int, rounds: int) -> list[Row]:
    """Output tokens/s of our engine vs bare ``LLM.chat`` with the SamplingParams ours sends, per seed mode."""
    from vllm import SamplingParams

    from sftkit.engines.base import Sampling, request_seed

    conversations = [[{"role": "user", "content": f"What is {i % 50} + {(7 * i) % 50}? ({i})"}] for i in range(prompts)]
    sampling = Sampling(max_tokens=max_tokens, temperature=0.8, seed=0)
    rows = []
    for mode in ("request", "batch"):
        engine.seed_mode = mode
        params = [
            SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=max_tokens,
                seed=request_seed(sampling.seed, c) if mode == "request" else None,
                skip_special_tokens=False,
                spaces_between_special_tokens=False,
            )
            for c in conversations
        ]  # what VLLMEngine._stream sends
        runs = {
            "ours": lambda: sum(s.tokens or 0 for c in engine.generate(conversations, sampling) for s in c.samples),
            "bare": lambda p=params: sum(
                len(o.token_ids) for r in engine.llm.chat(conversations, p, use_tqdm=False) for o in r.outputs
            ),
        }
        alternate(runs, 1)  # warm-up, the whole set: both then meet the same prefix cache
        (ours_n, ours_s), (bare_n, bare_s) = alternate(runs, rounds).values()
        rows.append(
            (
                f"generate tokens/s, seed {mode} ({ours_n}/{bare_n} tok)",
                f"{ours_n / ours_s:.1f}",
                f"{bare_n / bare_s:.1f}",
                f"{(ours_n / ours_s) / (bare_n / bare_s):.3f}",
            )
        )
    return rows


def measure_scoring(llm: Any, pairs: int, lengths: list[int], rounds: int) -> list[Row]:
    """Seconds and prompt tokens/s of VLLMGoldLogprob vs bare ``prompt_logprobs`` on the same token ids."""
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from sftkit.difficulty.logprob import VLLMGoldLogprob

    scorer = VLLMGoldLogprob(llm, llm.model_config.max_model_len)
    bare = SamplingParams(max_tokens=1, prompt_logprobs=0)
    rows = []
    for length in lengths:
        qa = qa_pairs(scorer.tokenizer, pairs, length)
        ids = [q + a for q, a, _ in (scorer.encode(*pair) for pair in qa)]
        tokens = rounds * sum(map(len, ids))
        runs = {
            "ours": lambda qa=qa: len(scorer.score(qa)),
            "bare": lambda ids=ids: len(
                llm.generate([TokensPrompt(prompt_token_ids=x) for x in ids], bare, use_tqdm=False)
            ),
        }
        alternate(runs, 1)
        (_, ours_s), (_, bare_s) = alternate(runs, rounds).values()
        label = f"score {pairs} x ~{tokens // rounds // pairs} tok"
        rows.append((f"{label}: s", f"{ours_s:.2f}", f"{bare_s:.2f}", f"{ours_s / bare_s:.3f}"))
        rows.append(
            (f"{label}: tokens/s", f"{tokens / ours_s:.0f}", f"{tokens / bare_s:.0f}", f"{bare_s / ours_s:.3f}")
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=PRESETS, default="qwen3-8b")
    p.add_argument("--prompts", type=int, default=256, help="generation prompts per call")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--pairs", type=int, default=16, help="question/answer pairs per scoring length")
    p.add_argument("--lengths", type=int, nargs="+", default=[2048, 16384], help="scoring lengths in tokens")
    p.add_argument("--rounds", type=int, default=2, help="alternating timed runs per measure")
    p.add_argument("--enforce-eager", action="store_true", help="no CUDA graphs (always on CPU)")
    args = p.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    # both checkpoints before any engine starts: a build holds the GPU while it runs
    first, second = build_model(args.preset, 0), build_model(args.preset, 1)
    import torch

    from sftkit.engines.base import ChatOptions
    from sftkit.engines.vllm_offline import VLLMEngine
    from sftkit.runner.passes import Loaded

    dtype = PRESETS[args.preset]["dtype"]
    # room for the pairs' overshoot of their length (chat template, numbers), so no answer is truncated
    max_model_len = max(*args.lengths, 64 + args.max_tokens) * 9 // 8 + 64
    eager = args.enforce_eager or not torch.cuda.is_available()

    def load(model: Path) -> Callable[[], VLLMEngine]:
        return lambda: VLLMEngine(
            str(model), ChatOptions(), dtype=dtype, max_model_len=max_model_len, enforce_eager=eager
        )

    memory = [("before the first load", used_gib())]
    loaded = Loaded()  # the production switch: close the engine, gc, empty_cache, then the next load
    start = time.perf_counter()
    loaded.get(("vllm", str(first)), load(first))
    first_load = time.perf_counter() - start
    memory.append(("first model loaded", used_gib()))
    rows = measure_generation(loaded.value, args.prompts, args.max_tokens, args.rounds)
    rows += measure_scoring(loaded.value.llm, args.pairs, args.lengths, args.rounds)

    start = time.perf_counter()
    loaded.release()
    released = time.perf_counter() - start
    memory.append(("first model released", used_gib()))
    start = time.perf_counter()
    loaded.get(("vllm", str(second)), load(second))
    second_load = time.perf_counter() - start
    memory.append(("second model loaded", used_gib()))
    loaded.release()
    rows.append(
        (
            "switch: release s (ours) / first load s",
            f"{released:.2f}",
            f"{first_load:.2f}",
            f"{released / first_load:.3f}",
        )
    )
    rows.append(
        (
            "switch: second load s / first load s",
            f"{second_load:.2f}",
            f"{first_load:.2f}",
            f"{second_load / first_load:.3f}",
        )
    )

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (figures mean nothing)"
    print(
        f"\n{args.preset} on {device}, dtype {dtype}, {args.prompts} prompts x {args.max_tokens} tokens, "
        f"{args.rounds} rounds"
    )
    print(f"{'measure':48s} {'ours':>10s} {'bare':>10s} {'ours/bare':>10s}")
    for row in rows:
        print(f"{row[0]:48s} {row[1]:>10s} {row[2]:>10s} {row[3]:>10s}")
    print("\nGPU memory in use (whole device):")
    for stage, gib in memory:
        print(f"  {stage:24s} {'n/a (no GPU)' if gib is None else f'{gib:.2f} GiB'}")


if __name__ == "__main__":
    main()
