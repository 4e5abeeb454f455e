"""Gold-answer log-probability: how likely a model finds the reference answer, given the question.

The value is the mean natural-log probability per answer token. The question is rendered with the
model's chat template (thinking off where the template supports it) and the answer is tokenized
separately, so the prompt/answer boundary is exact and only answer tokens count. Pairs are sorted
by length and batched under a token budget, so padding is small; a batch that runs out of memory is
split in half and retried, never dropped. Too long an input loses answer tokens from the end,
never question tokens, and is flagged ``truncated``.

Two backends share the tokenization: transformers forward passes (any device), and vLLM's
``prompt_logprobs`` (GPU nodes), which reuses the vLLM engine the ensemble pass samples with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftkit.engines.hf import torch_dtype
from sftkit.engines.hub import model_files


@dataclass
class GoldLogprob:
    avg_logprob: float | None
    n_answer_tokens: int
    truncated: bool


def no_answer_left(encoded: list[tuple[list[int], list[int], bool]]) -> dict[int, GoldLogprob]:
    """Results for pairs whose question alone fills --max-sequence-length: nothing to score or send."""
    return {i: GoldLogprob(None, 0, truncated) for i, (_, a, truncated) in enumerate(encoded) if not a}


class GoldEncoder:
    """Question and answer token ids with an exact boundary: the two are tokenized separately."""

    def __init__(self, tokenizer: Any, max_sequence_length: int) -> None:
        self.tokenizer, self.max_len = tokenizer, max_sequence_length

    def encode(self, question: str, answer: str) -> tuple[list[int], list[int], bool]:
        messages = [{"role": "user", "content": question}]
        try:
            prompt = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
            )
        except (ValueError, TypeError):  # no chat template: plain concatenation
            prompt = question + "\n"
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        room = max(0, self.max_len - len(prompt_ids))
        return prompt_ids, answer_ids[:room], len(answer_ids) > room


class GoldLogprobScorer(GoldEncoder):
    """The transformers backend."""

    def __init__(
        self,
        model: str,
        max_sequence_length: int = 2048,
        token_budget: int = 16384,
        dtype: str = "auto",
        device: str | None = None,
        disable_flash_attention: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype)}
        if disable_flash_attention:
            kwargs["attn_implementation"] = "eager"
        with model_files(model):
            super().__init__(AutoTokenizer.from_pretrained(model), max_sequence_length)
            self.lm = AutoModelForCausalLM.from_pretrained(model, **kwargs)
        self.lm = self.lm.to(self.device).eval()
        self.budget = token_budget
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def score(self, pairs: list[tuple[str, str]]) -> list[GoldLogprob]:
        encoded = [self.encode(q, a) for q, a in pairs]
        results = no_answer_left(encoded)
        order = sorted(
            (i for i in range(len(pairs)) if i not in results), key=lambda i: len(encoded[i][0]) + len(encoded[i][1])
        )
        batch: list[int] = []
        for i in order:  # ascending length: the newest pair is the longest of its batch
            longest = len(encoded[i][0]) + len(encoded[i][1])
            if batch and longest * (len(batch) + 1) > self.budget:
                self._run(batch, encoded, results)
                batch = []
            batch.append(i)
        if batch:
            self._run(batch, encoded, results)
        return [results[i] for i in range(len(pairs))]

    def _run(
        self, batch: list[int], encoded: list[tuple[list[int], list[int], bool]], results: dict[int, GoldLogprob]
    ) -> None:
        import torch

        try:
            results.update(zip(batch, self._forward([encoded[i] for i in batch])))
            return
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise
        # halves run only here, past the except block: while it is open, the exception's traceback keeps
        # the failed forward's frames, and with them its activations, alive on the device
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
            ids[row, : len(p) + len(a)] = torch.tensor(p + a)
            mask[row, : len(p) + len(a)] = 1
        out = []
        with torch.no_grad():
            logits = self.lm(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            for row, (p, a, truncated) in enumerate(items):
                # token t is predicted at t - 1; softmax in fp32 over answer positions only, to spare memory
                predicting = logits[row, len(p) - 1 : len(p) + len(a) - 1].float().log_softmax(dim=-1)
                picked = predicting[torch.arange(len(a)), torch.tensor(a, device=predicting.device)]
                out.append(GoldLogprob(float(picked.mean()), len(a), truncated))
        return out


class VLLMGoldLogprob(GoldEncoder):
    """The vLLM backend: ``prompt_logprobs`` over question + answer token ids, one ``generate`` call per
    batch; vLLM schedules and chunks the prompts itself, so no bucketing is needed here."""

    def __init__(self, llm: Any, max_sequence_length: int) -> None:
        # vLLM refuses a whole call if one prompt leaves no room for its one new token
        super().__init__(llm.get_tokenizer(), min(max_sequence_length, llm.model_config.max_model_len - 1))
        self.llm = llm

    def score(self, pairs: list[tuple[str, str]]) -> list[GoldLogprob]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        encoded = [self.encode(q, a) for q, a in pairs]
        results = no_answer_left(encoded)
        todo = [i for i in range(len(pairs)) if i not in results]
        prompts = [TokensPrompt(prompt_token_ids=encoded[i][0] + encoded[i][1]) for i in todo]
        outputs = (
            self.llm.generate(prompts, SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)
            if prompts
            else []
        )
        for i, out in zip(todo, outputs):
            p, a, truncated = encoded[i]
            # position t holds the log-probability of prompt token t given the tokens before it
            picked = [out.prompt_logprobs[len(p) + k][token].logprob for k, token in enumerate(a)]
            results[i] = GoldLogprob(sum(picked) / len(picked), len(a), truncated)
        return [results[i] for i in range(len(pairs))]
