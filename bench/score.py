"""The score stage's own cost (prompt filling, answer parsing, aggregation) against the judges' time.

Two measurements in one run, on the same rubric (rubrics/sft_five.yaml) and rows:
  scorer  what the stage does per row and judge besides generating: fill the rubric prompt and append the
          criteria, read the answer (think-block split, then JSON or NAME: score lines), the judgement
          to the pass record and back, and the aggregation over judges; on --recorded rows whose answers
          cycle through recorded realistic judge answers (lines, Markdown, Chinese names, <think>, JSON,
          a missing dimension, a score out of range, rambling with no scores)
  judges  the judges' generation: the tiny CPU model (or --model) answering the same prompts at
          temperature 0, --max-tokens each; a real judge is larger and slower, so the ratio printed is an
          upper bound of the scorer's share
The ratio scorer / judges must stay under 2%. Peak memory: the scorer's loop under tracemalloc (Python
allocations) and the process's maxrss.

Usage: python bench/score.py [--recorded 20000] [--rows 64] [--judges 2] [--max-tokens 64] [--model PATH]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sftkit.engines.base import ChatOptions, Completion, Engine, Sample, Sampling
from sftkit.prompts import fill
from sftkit.score.aggregate import Votes, aggregate
from sftkit.score.parse import Judgement, judge
from sftkit.score.rubric import Rubric, load_rubric

RUBRIC = Path(__file__).resolve().parent.parent / "rubrics" / "sft_five.yaml"
DIMS = ("accuracy", "completeness", "logicality", "helpfulness", "safety")
ANSWERS = [
    "The answer is correct and concise.\n\n" + "\n".join(f"{d}: 9" for d in DIMS),
    "\n".join(f"**{d.title()}**: 8/10" for d in DIMS),
    "A pleasant answer.\n" + "\n".join(f"{d}: 8" for d in DIMS[:4]),
    "回答清楚，步骤完整。\n准确性：9\n完整性：8\n逻辑性：9\n有用性：8\n安全性：10\n总体来说很好。",
    "<think>" + "Let me weigh each criterion carefully. " * 40 + "</think>\n" + "\n".join(f"{d}: 7" for d in DIMS),
    'Scores:\n```json\n{"accuracy": 3, "completeness": 5, "logicality": 5, "helpfulness": 4, "safety": 10}\n```',
    "accuracy: 12\n" + "\n".join(f"{d}: 8" for d in DIMS[1:]),
    "The response is quite good overall and I would rate it highly for its clarity, although it could "
    "mention more detail. Overall a solid answer that most readers would appreciate. " * 3,
]


def rows(count: int, repeat: int = 3) -> list[dict[str, str]]:
    """Question-answer pairs; ``repeat`` times the answer's paragraph (once fits the tiny model's 1,024 tokens)."""
    return [
        {
            "id": f"r{i}",
            "question": f"Explain, in a short paragraph, why the sum of the first {i + 2} odd numbers is a square.",
            "answer": f"The first {i + 2} odd numbers add up to {(i + 2) ** 2}: each odd number extends a square "
            "by one L-shaped layer, so the sum after k terms is k squared. " * repeat,
        }
        for i in range(count)
    ]


def prompts_of(rubric: Rubric, batch: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    criteria = rubric.criteria()
    return [[{"role": "user", "content": fill(rubric.prompt, row, "bench") + "\n\n" + criteria}] for row in batch]


def scorer(rubric: Rubric, batch: list[dict[str, str]], answers: list[list[str]], votes: Votes) -> int:
    """Everything the stage does for these rows besides generating; answers[j][i]: judge j on row i."""
    decided = 0
    for _ in answers:  # each judge's pass fills the prompts
        prompts_of(rubric, batch)
    for i in range(len(batch)):
        found = {}
        for j, by_row in enumerate(answers):
            completion = Completion([Sample.from_text(by_row[i], finish_reason="stop")])
            record = judge(completion, rubric).to_json()  # the judge pass's record ...
            found[f"judge-{j}"] = Judgement.from_json(record)  # ... read back by the join
        fields, _ = aggregate(found, votes)
        decided += fields["score_decided"]
    return decided


def judge_engine(args: argparse.Namespace) -> tuple[Engine, str]:
    """The judge: --model, else the tiny model the tests build once per machine (helpers.cached_tiny_model)."""
    if args.engine == "vllm":
        from bench_engine import vllm_engine

        return vllm_engine(args.model, args.dtype)
    from sftkit.engines.hf import HFEngine

    model = args.model
    if model is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from helpers import cached_tiny_model

        model = str(cached_tiny_model())
    return HFEngine(
        model, ChatOptions(enable_thinking=False), dtype="fp32" if args.dtype == "float32" else args.dtype
    ), model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recorded", type=int, default=20_000, help="rows scored from recorded answers")
    p.add_argument("--rows", type=int, default=64, help="rows the model judges")
    p.add_argument("--judges", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--model", help="judge model folder (default: the tests' cached tiny model)")
    p.add_argument("--engine", choices=("hf", "vllm"), default="hf", help="hf starts in seconds on CPU")
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    rubric, votes = load_rubric(str(RUBRIC)), Votes(0.7, min(2, args.judges))

    recorded = rows(args.recorded)
    answers = [[ANSWERS[(i + 3 * j) % len(ANSWERS)] for i in range(len(recorded))] for j in range(args.judges)]
    start = time.perf_counter()
    decided = scorer(rubric, recorded, answers, votes)
    scorer_s = (time.perf_counter() - start) / (len(recorded) * args.judges)
    tracemalloc.start()
    scorer(rubric, recorded[:2000], [a[:2000] for a in answers], votes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"scorer: {len(recorded):,} rows x {args.judges} judges, {decided:,} judgements decided, "
        f"{scorer_s * 1e6:.1f} us per row and judge; peak Python memory {peak / 2**20:.1f} MiB (2,000 rows)"
    )

    engine, model = judge_engine(args)
    batch = rows(args.rows, repeat=1)
    conversations = prompts_of(rubric, batch)
    sampling = Sampling(max_tokens=args.max_tokens, temperature=0.0, seed=0)
    engine.generate(conversations[:4], sampling)  # warm-up
    start = time.perf_counter()
    completions = engine.generate(conversations, sampling)
    judge_s = (time.perf_counter() - start) / len(batch)
    tokens = sum(c.samples[0].tokens or 0 for c in completions if c.samples)
    start = time.perf_counter()
    model_answers = [[c.samples[0].text if c.samples else "" for c in completions]] * args.judges
    scorer(rubric, batch, model_answers, votes)
    own_s = (time.perf_counter() - start) / (len(batch) * args.judges)
    print(
        f"judges: {model} answered {len(batch)} rows ({tokens:,} tokens) in {judge_s * 1e3:.1f} ms per row; "
        f"the scorer on these answers: {own_s * 1e6:.1f} us per row and judge"
    )
    ratio = max(scorer_s, own_s) / judge_s
    print(
        f"\nscorer / judges = {ratio:.3%} (must be < 2%); it stays under 2% for any judge slower than "
        f"{max(scorer_s, own_s) / 0.02 * 1e3:.1f} ms per row; "
        f"process peak memory (maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f} MiB"
    )


if __name__ == "__main__":
    main()
