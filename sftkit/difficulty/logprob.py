"""Gold-answer log-probability: how likely a model finds the reference answer, given the question.

The value is the mean natural-log probability per answer token. The question is rendered with the
model's chat template (thinking off where the template supports it) and the answer is tokenized
separately, so the prompt/answer boundary is exact and only answer tokens count. Pairs are sorted
by length and batched under a token budget, so padding is small; a batch that runs out of memory is
split in half and retried, never dropped. Too long an input loses answer tokens from the end,
never question tokens, and is flagged ``truncated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class GoldLogprob:
    avg_logprob: float | None
    n_answer_tokens: int
    truncated: bool


class GoldLogprobScorer:
    def __init__(self, model: str, max_sequence_length: int = 2048, token_budget: int = 16384,
                 dtype: str = "auto", device: str | None = None, disable_flash_attention: bool = False) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        kwargs: dict[str, Any] = {"dtype": {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16,
                                            "fp16": torch.float16}[dtype]}
        if disable_flash_attention:
            kwargs["attn_implementation"] = "eager"
        self.lm = AutoModelForCausalLM.from_pretrained(model, **kwargs).to(self.device).eval()
        self.max_len, self.budget = max_sequence_length, token_budget
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def encode(self, question: str, answer: str) -> tuple[list[int], list[int], bool]:
        messages = [{"role": "user", "content": question}]
        try:
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                        enable_thinking=False)
        except (ValueError, TypeError):  # no chat template: plain concatenation
            prompt = question + "\n"
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        room = max(0, self.max_len - len(prompt_ids))
        return prompt_ids, answer_ids[:room], len(answer_ids) > room

    def score(self, pairs: list[tuple[str, str]]) -> list[GoldLogprob]:
        encoded = [self.encode(q, a) for q, a in pairs]
        order = sorted(range(len(pairs)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
        results: dict[int, GoldLogprob] = {}
        batch: list[int] = []
        for i in order:
            longest = max([len(encoded[j][0]) + len(encoded[j][1]) for j in [*batch, i]])
            if batch and longest * (len(batch) + 1) > self.budget:
                self._run(batch, encoded, results)
                batch = []
            batch.append(i)
        if batch:
            self._run(batch, encoded, results)
        return [results[i] for i in range(len(pairs))]

    def _run(self, batch: list[int], encoded: list[tuple[list[int], list[int], bool]],
             results: dict[int, GoldLogprob]) -> None:
        import torch

        try:
            results.update(zip(batch, self._forward([encoded[i] for i in batch])))
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
            if self.device == "cuda":
                torch.cuda.empty_cache()
            half = len(batch) // 2
            self._run(batch[:half], encoded, results)
            self._run(batch[half:], encoded, results)

    def _forward(self, items: list[tuple[list[int], list[int], bool]]) -> list[GoldLogprob]:
        import torch

        width = max(len(p) + len(a) for p, a, _ in items)
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, (p, a, _) in enumerate(items):
            ids[row, :len(p) + len(a)] = torch.tensor(p + a)
            mask[row, :len(p) + len(a)] = 1
        with torch.no_grad():
            logits = self.lm(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1).cpu()
        out = []
        for row, (p, a, truncated) in enumerate(items):
            if not a:
                out.append(GoldLogprob(None, 0, truncated))
                continue
            positions = torch.arange(len(p) - 1, len(p) + len(a) - 1)  # token t is predicted at t - 1
            picked = logprobs[row, positions, torch.tensor(a)]
            out.append(GoldLogprob(float(picked.mean()), len(a), truncated))
        return out
