"""Gold-answer log-probability: batched and bucketed equals a hand computation, truncation, OOM split."""

from pathlib import Path

import pytest
import torch

from sftkit.difficulty.logprob import GoldLogprob, GoldLogprobScorer, VLLMGoldLogprob

pytestmark = pytest.mark.models

PAIRS = [
    ("What is 3 + 4?", "The answer is \\boxed{7}."),
    ("Compute 12 times 2.", "24"),
    ("What is 40 + 9?", "<think>\n40 plus 9 is 49.\n</think>\n\nThe answer is \\boxed{49}."),
    ("What is 1 + 1?", "2"),
    ("What is 30 + 30?", "Sixty, so \\boxed{60}."),
]


def by_hand(scorer: GoldLogprobScorer, question: str, answer: str) -> float:
    """One example, no padding: the answer tokens' log-probabilities, one forward pass, then the mean."""
    prompt, ans, _ = scorer.encode(question, answer)
    ids = torch.tensor([prompt + ans])
    with torch.no_grad():
        logits = scorer.lm(input_ids=ids).logits[0].float()
    total = 0.0
    for k, token in enumerate(ans):
        total += torch.log_softmax(logits[len(prompt) + k - 1], dim=-1)[token].item()
    return total / len(ans)


def test_batched_bucketed_values_equal_single_example_values(tiny_model: Path) -> None:
    scorer = GoldLogprobScorer(str(tiny_model), dtype="fp32", token_budget=120)  # forces several buckets
    results = scorer.score(PAIRS)
    for (q, a), result in zip(PAIRS, results):
        assert result.avg_logprob == pytest.approx(by_hand(scorer, q, a), abs=1e-5)
        assert result.n_answer_tokens == len(scorer.tokenizer(a, add_special_tokens=False)["input_ids"])
        assert not result.truncated
    assert results[0].avg_logprob > results[4].avg_logprob  # the trained format is more likely


def test_long_inputs_lose_answer_tokens_never_question_tokens(tiny_model: Path) -> None:
    scorer = GoldLogprobScorer(str(tiny_model), dtype="fp32", max_sequence_length=24)
    prompt, _, _ = scorer.encode(PAIRS[2][0], PAIRS[2][1])
    (result,) = scorer.score([PAIRS[2]])
    assert result.truncated and result.n_answer_tokens == 24 - len(prompt)
    assert result.avg_logprob == pytest.approx(by_hand(scorer, *PAIRS[2]), abs=1e-5)
    scorer.max_len = len(prompt) - 1  # the question alone is too long: nothing is scored, and it says so
    assert scorer.score([PAIRS[2], PAIRS[2]]) == [GoldLogprob(None, 0, True)] * 2


def test_a_batch_that_runs_out_of_memory_is_split_not_dropped(tiny_model: Path, monkeypatch) -> None:
    scorer = GoldLogprobScorer(str(tiny_model), dtype="fp32")
    expected = [r.avg_logprob for r in scorer.score(PAIRS)]
    real_forward, sizes = scorer._forward, []

    def small_memory(items):  # stands in for a GPU that fits two sequences at a time
        sizes.append(len(items))
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_forward(items)

    monkeypatch.setattr(scorer, "_forward", small_memory)
    assert [r.avg_logprob for r in scorer.score(PAIRS)] == pytest.approx(expected, abs=1e-6)
    assert sizes == [5, 2, 3, 1, 2]  # 5 fails, halves to 2 + 3, the 3 fails again and halves to 1 + 2


def test_vllm_prompt_logprobs_equal_the_transformers_values(tiny_model: Path, vllm_engine) -> None:
    pairs = [*PAIRS, ("What is 2 + 2? " * 12, "4")]  # the last question alone is over the limit
    hf = GoldLogprobScorer(str(tiny_model), dtype="fp32", max_sequence_length=28).score(pairs)
    ours = VLLMGoldLogprob(vllm_engine.llm, 28).score(pairs)
    assert [(r.n_answer_tokens, r.truncated) for r in ours] == [(r.n_answer_tokens, r.truncated) for r in hf]
    assert ours[-1] == GoldLogprob(None, 0, True) and any(r.truncated and r.n_answer_tokens for r in ours)
    for a, b in zip(ours[:-1], hf[:-1]):
        assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-4)
    # --max-sequence-length over the engine's context (512): pairs are cut to fit, never refused as a batch
    long = VLLMGoldLogprob(vllm_engine.llm, 2048).score([("What is 1 + 1?", "2 " * 600), PAIRS[0]])
    assert long[0].truncated and long[0].n_answer_tokens > 0 and long[1].avg_logprob is not None
