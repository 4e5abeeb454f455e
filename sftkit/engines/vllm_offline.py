"""vLLM offline engine: a whole chunk of conversations in one ``LLM.chat`` call, so continuous
batching keeps the GPU full (the predecessor sent batches of 4 and got 50 s per item)."""

from __future__ import annotations

from typing import Any

from sftkit.engines.base import ChatOptions, Completion, Conversation, Sample, Sampling


class VLLMEngine:
    name = "vllm"

    def __init__(self, model: str, chat: ChatOptions, tp: int = 1, pp: int = 1, dtype: str = "auto",
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9, seed: int = 0,
                 enforce_eager: bool = False) -> None:
        from vllm import LLM

        self.model, self.chat = model, chat
        self.settings = {"tensor_parallel_size": tp, "pipeline_parallel_size": pp, "dtype": dtype,
                         "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
                         "seed": seed, "enforce_eager": enforce_eager}
        self.llm = LLM(model=model, **{k: v for k, v in self.settings.items() if v is not None})

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_tokens, seed=sampling.seed, stop=list(sampling.stop) or None,
                                logprobs=0 if sampling.logprobs else None)
        outputs = self.llm.chat([self.chat.messages(c) for c in conversations], params, use_tqdm=False,
                                chat_template_kwargs=self.chat.template_kwargs() or None)
        return [Completion([Sample.from_text(o.text, sampling.stop, tokens=len(o.token_ids),
                                             logprob=o.cumulative_logprob if sampling.logprobs else None,
                                             finish_reason=o.finish_reason) for o in out.outputs])
                for out in outputs]

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": self.model, **self.settings, **self.chat.__dict__}
