"""transformers engine, for CPUs and small GPUs: batched generation with left padding, each batch
saved as it finishes (``sftkit.engines.streaming``)."""

from __future__ import annotations

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
    render,
    request_seed,
    send_fitting,
    special_tokens,
)
from sftkit.engines.hub import model_files
from sftkit.engines.streaming import OnDone, streamed


def torch_dtype(name: str) -> Any:
    """The torch dtype for a --dtype value ("auto" lets transformers read the checkpoint's)."""
    import torch

    names = {
        "auto": "auto",
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
        "fp16": torch.float16,
        "float16": torch.float16,
        "fp32": torch.float32,
        "float32": torch.float32,
    }
    if name not in names:
        raise ValueError(f"unknown dtype {name!r}; one of {', '.join(names)}")
    return names[name]


def sample_seed(seed: int | None, index: int) -> int:
    """Sample ``index`` of a request seeded ``seed`` (an unseeded request draws from fresh entropy)."""
    if seed is None:
        import torch

        return int(torch.seed())
    return (seed * 1_000_003 + index) % 2**63


class RequestSampler:
    """Samples each sequence with a generator of its own, seeded from the run seed, its prompt and its
    sample index, so a prompt draws the same tokens whatever batch, shard or resume it lands in
    (``generate``'s sampler draws the whole batch from one generator). A logits processor under greedy
    decoding: it returns scores where only the drawn token is finite."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float) -> None:
        import torch
        from transformers import TemperatureLogitsWarper, TopPLogitsWarper

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.warpers = [TemperatureLogitsWarper(temperature), *([TopPLogitsWarper(top_p)] if top_p < 1 else [])]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        for warp in self.warpers:
            scores = warp(input_ids, scores)
        cdf = scores.float().softmax(-1).cumsum(-1)
        draws = torch.stack([torch.rand((), generator=g) for g in self.generators]).to(cdf.device)
        # the first token whose cumulative probability passes the draw: never one of probability 0
        token = torch.searchsorted(cdf, (draws * cdf[:, -1])[:, None], right=True).clamp(max=cdf.shape[-1] - 1)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)


def _stop_requested(input_ids: Any, scores: Any, **kwargs: Any) -> Any:
    """A transformers stopping criterion: every sequence is done once a stop signal came."""
    import torch

    return torch.full(
        (input_ids.shape[0],), stopping.requested() is not None, dtype=torch.bool, device=input_ids.device
    )


class HFEngine:
    name = "hf"

    def __init__(
        self,
        model: str,
        chat: ChatOptions,
        batch_size: int = 16,
        dtype: str = "auto",
        device: str | None = None,
        disable_flash_attention: bool = False,
        max_model_len: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model, self.chat, self.batch_size = model, chat, max(1, batch_size)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        attention = {"attn_implementation": "eager"} if disable_flash_attention else {}
        with model_files(model):
            self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
            self.lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype(dtype), **attention)
        if self.tokenizer.pad_token is None:  # pads only the prompts; a sample ends at its first EOS
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = self.lm.to(self.device).eval()
        self.dtype = str(self.lm.dtype).removeprefix("torch.")
        positions = getattr(self.lm.config, "max_position_embeddings", None)
        limits = [x for x in (max_model_len, positions) if x]
        self.max_model_len = min(limits) if limits else None
        configured = self.lm.generation_config.eos_token_id
        self.eos = {self.tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])}
        self.eos.discard(None)
        self.specials = special_tokens(self.tokenizer)

    def prompt_lengths(self, conversations: list[Conversation]) -> list[int]:
        return prompt_lengths(self.tokenizer, self.chat, conversations)

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]:
        return send_fitting(
            conversations,
            self.prompt_lengths(conversations),
            self.max_model_len,
            lambda sent: streamed(self, sent, sampling, lambda todo, on_done: self._stream(todo, sampling, on_done)),
        )

    def _stream(self, conversations: list[Conversation], sampling: Sampling, on_done: OnDone) -> None:
        """Hand each internal batch over as it finishes; a stop ends the batch in progress, unsaved."""
        import torch
        from transformers import LogitsProcessorList

        prompts = [render(self.tokenizer, self.chat, c) for c in conversations]
        opened = opens_reasoning(self.tokenizer, self.chat)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            # greedy decoding gives n identical samples: decode once, repeat; else each sample is a row
            per = 1 if sampling.temperature == 0 else sampling.n
            enc = self.tokenizer(
                [prompts[i] for i in idx for _ in range(per)],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(self.device)
            # a batch is left-padded to its longest prompt: no sample may run past the context
            room = self.max_model_len - enc["input_ids"].shape[1] if self.max_model_len else sampling.max_tokens
            kwargs: dict[str, Any] = {
                "max_new_tokens": min(sampling.max_tokens, room),
                "pad_token_id": self.tokenizer.pad_token_id,
                "return_dict_in_generate": True,
                "output_logits": sampling.logprobs,
                "do_sample": False,
                "temperature": None,
                "top_p": None,
                "top_k": None,
            }
            if sampling.temperature > 0:
                seeds = [sample_seed(request_seed(sampling.seed, conversations[i]), j) for i in idx for j in range(per)]
                kwargs["logits_processor"] = LogitsProcessorList(
                    [RequestSampler(seeds, sampling.temperature, sampling.top_p)]
                )
            if sampling.stop:
                kwargs |= {"stop_strings": list(sampling.stop), "tokenizer": self.tokenizer}
            with torch.no_grad():
                out = self.lm.generate(**enc, **kwargs, stopping_criteria=[_stop_requested])
            if stopping.requested():
                return
            new = out.sequences[:, enc["input_ids"].shape[1] :]
            scores = (
                self.lm.compute_transition_scores(out.sequences, out.logits, normalize_logits=True)
                if sampling.logprobs
                else None
            )
            for k, i in enumerate(idx):
                samples = []
                for j in range(sampling.n):
                    row = k * per + j % per
                    ids, ended = self._own_tokens(new[row].tolist())
                    text = self.tokenizer.decode(ids, skip_special_tokens=False)
                    text = self.specials.sub("", text) if self.specials else text
                    stopped = ended or any(s in text for s in sampling.stop)
                    samples.append(
                        Sample.from_text(
                            text,
                            sampling.stop,
                            opened,
                            tokens=len(ids),
                            finish_reason="stop" if stopped else "length",
                            logprob=float(scores[row, : len(ids)].sum()) if scores is not None else None,
                        )
                    )
                on_done(i, Completion(samples))

    def _own_tokens(self, row: list[int]) -> tuple[list[int], bool]:
        """A sample's tokens through its first EOS, and whether it ended there. What follows is padding,
        which is EOS itself for a tokenizer without a pad token (so "is there padding" cannot tell)."""
        for t, token in enumerate(row):
            if token in self.eos:
                return row[: t + 1], True
            if token == self.tokenizer.pad_token_id:  # a sequence that stopped at a stop string
                return row[:t], False
        return row, False

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "model": self.model,
            "dtype": self.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
            **self.chat.__dict__,
        }
