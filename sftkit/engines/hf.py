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
    send_fitting,
    special_tokens,
)
from sftkit.engines.hub import model_files
from sftkit.engines.streaming import OnDone, streamed


def torch_dtype(name: str) -> Any:
    """The torch dtype for a --dtype value ("auto" lets transformers read the checkpoint's)."""
    import torch

    names = {"auto": "auto", "bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}
    if name not in names:
        raise ValueError(f"unknown dtype {name!r}; one of {', '.join(names)}")
    return names[name]


def _stop_requested(input_ids: Any, scores: Any, **kwargs: Any) -> Any:
    """A transformers stopping criterion: every sequence is done once a stop signal came."""
    import torch

    return torch.full((input_ids.shape[0],), stopping.requested() is not None, dtype=torch.bool,
                      device=input_ids.device)


class HFEngine:
    name = "hf"

    def __init__(self, model: str, chat: ChatOptions, batch_size: int = 16, dtype: str = "auto",
                 device: str | None = None, disable_flash_attention: bool = False,
                 max_model_len: int | None = None) -> None:
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
        return send_fitting(conversations, self.prompt_lengths(conversations), self.max_model_len,
                            lambda sent: streamed(self, sent, sampling, lambda todo, on_done: self._stream(
                                todo, sampling, on_done)))

    def _stream(self, conversations: list[Conversation], sampling: Sampling, on_done: OnDone) -> None:
        """Hand each internal batch over as it finishes; a stop ends the batch in progress, unsaved."""
        import torch

        prompts = [render(self.tokenizer, self.chat, c) for c in conversations]
        opened = opens_reasoning(self.tokenizer, self.chat)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                 add_special_tokens=False).to(self.device)
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed + start)
            # greedy decoding gives n identical samples: decode once, repeat
            per = 1 if sampling.temperature == 0 else sampling.n
            # a batch is left-padded to its longest prompt: no sample may run past the context
            room = self.max_model_len - enc["input_ids"].shape[1] if self.max_model_len else sampling.max_tokens
            kwargs: dict[str, Any] = {"max_new_tokens": min(sampling.max_tokens, room), "num_return_sequences": per,
                                      "pad_token_id": self.tokenizer.pad_token_id,
                                      "return_dict_in_generate": True, "output_scores": sampling.logprobs}
            if sampling.temperature > 0:
                kwargs |= {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
            else:
                kwargs |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
            if sampling.stop:
                kwargs |= {"stop_strings": list(sampling.stop), "tokenizer": self.tokenizer}
            with torch.no_grad():
                out = self.lm.generate(**enc, **kwargs, stopping_criteria=[_stop_requested])
            if stopping.requested():
                return
            new = out.sequences[:, enc["input_ids"].shape[1]:]
            scores = (self.lm.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
                      if sampling.logprobs else None)
            for k, i in enumerate(idx):
                samples = []
                for j in range(sampling.n):
                    row = k * per + j % per
                    ids, ended = self._own_tokens(new[row].tolist())
                    text = self.tokenizer.decode(ids, skip_special_tokens=False)
                    text = self.specials.sub("", text) if self.specials else text
                    stopped = ended or any(s in text for s in sampling.stop)
                    samples.append(Sample.from_text(
                        text, sampling.stop, opened, tokens=len(ids), finish_reason="stop" if stopped else "length",
                        logprob=float(scores[row, :len(ids)].sum()) if scores is not None else None))
                on_done(i, Completion(samples))

    def _own_tokens(self, row: list[int]) -> tuple[list[int], bool]:
        """A sample's tokens through its first EOS, and whether it ended there. What follows is padding,
        which is EOS itself for a tokenizer without a pad token (so "is there padding" cannot tell)."""
        for t, token in enumerate(row):
            if token in self.eos:
                return row[:t + 1], True
            if token == self.tokenizer.pad_token_id:  # a sequence that stopped at a stop string
                return row[:t], False
        return row, False

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "model": self.model, "dtype": self.dtype, "device": self.device,
                "batch_size": self.batch_size, **self.chat.__dict__}
