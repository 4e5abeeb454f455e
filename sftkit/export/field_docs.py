"""What each field the stages write means: the card's field table, and what an export keeps by default."""

from __future__ import annotations

FIELD_DOCS = {
    # training formats (upload/export_sft.py)
    "messages": "the conversation as `[{role, content}]` (OpenAI/TRL); with `--reasoning field` the assistant "
    "turn also has `reasoning_content`",
    "conversations": "the conversation as ShareGPT `[{from, value}]`, `human` then `gpt` (LLaMA-Factory)",
    "instruction": "the question (Alpaca)",
    "input": "extra input for the instruction; empty here (Alpaca)",
    "output": "the response the model learns (Alpaca)",
    "system": "the system prompt",
    "reasoning_content": "the `<think>` reasoning, kept apart from the answer",
    "tools": "the tool schemas the conversation may call, as JSON text",
    "prompt": "the turns before the two answers, as `[{role, content}]` (TRL preference data)",
    "chosen": "the preferred answer: one assistant message",
    "rejected": "the dispreferred answer: one assistant message",
    "chosen_turn": "the preferred answer as one message (LLaMA-Factory's ranking column)",
    "rejected_turn": "the dispreferred answer as one message (LLaMA-Factory's ranking column)",
    # seeds (OpenMathReasoning-style)
    "id": "stable row id, carried through every stage",
    "problem": "the question",
    "generated_solution": "the reference solution, reasoning included",
    "expected_answer": "the gold final answer",
    "problem_type": "the source's problem type label",
    "problem_source": "where the problem comes from",
    "inference_mode": "how the reference solution was produced (e.g. `cot`)",
    "pass_rate_72b_tir": "the source's pass-rate label of a 72B model with tool use",
    # generation
    "question": "the question",
    "answer": "the final answer",
    "reasoning": "the generator's `<think>` reasoning",
    "seed_id": "id of the seed problem this one was generated from",
    "seed_question": "the seed problem's text",
    "generation": "generation provenance: model, sampling, sample index, finish reason",
    "parent_id": "id of the row this one was generated from (a slice of a document: `<doc>-s<slice>`)",
    "lineage": "parent id, sample and item index, prompt hash, and the parent's own lineage, back to the source",
    "doc_id": "id of the document whose slice this row was generated from",
    "slice_index": "which slice of that document (0-based)",
    # solve and judge
    "samples": "each sampled solution with its math-verify and judge verdicts",
    "n_samples": "solutions sampled",
    "n_decided": "solutions with a decided verdict",
    "n_correct": "solutions judged correct",
    "pass_rate": "n_correct / n_decided: how often the solver model got it right",
    "kept": "whether the pass rate fell in the filter's band",
    "filter": "solve-and-judge provenance: solver, judges, sampling",
    # difficulty
    "avg_logprob": "mean log-probability per token of the gold answer under the primary model",
    "n_answer_tokens": "tokens in the gold answer",
    "truncated": "the answer was cut to fit the model's context",
    "responses": "per model: [correct, sampled] answers",
    "ensemble_acc": "share of the ensemble's sampled answers that were correct",
    "irt_beta": "IRT (Rasch) difficulty: higher is harder",
    "irt_beta_se": "standard error of irt_beta",
    "difficulty_z": "composite difficulty z-score (log-probability and IRT): higher is harder",
}

# scalar facts about a row worth keeping next to an exported example (not the texts the example already holds)
KEEP_BY_DEFAULT = (
    "id",
    "seed_id",
    "problem_type",
    "problem_source",
    "pass_rate_72b_tir",
    "pass_rate",
    "n_correct",
    "n_decided",
    "avg_logprob",
    "ensemble_acc",
    "irt_beta",
    "irt_beta_se",
    "difficulty_z",
)


def meaning(field: str) -> str:
    return FIELD_DOCS.get(field, "from the input, unchanged")
