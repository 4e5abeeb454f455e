"""What every engine takes and gives back, so stages never care which engine ran."""

from __future__ import annotations

import copy
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

# engine settings that change how the work runs, never what it produces: a requeued shard may get
# other GPUs (tp, memory) and still resume, and its part still merges with the others
RUNTIME_SETTINGS = frozenset(
    {
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "tp",
        "pp",
        "gpu_memory_utilization",
        "enforce_eager",
        "enable_chunked_prefill",
        "attention_backend",
        "disable_flash_attention",
        "batch_size",
        "concurrency",
        "device",
        "base_url",
        "allow_http_key",
        "server_file",
        "server_wait",
        "request_timeout",
    }
)

Message = dict[str, str]
Conversation = list[Message]


def request_seed(seed: int | None, conversation: Conversation) -> int | None:
    """A per-request seed from the run seed and the prompt itself: every prompt draws differently, and
    the same prompt draws the same way whichever shard, chunk or batch it lands in."""
    if seed is None:
        return None
    return (seed * 1_000_003 + zlib.crc32(json.dumps(conversation, sort_keys=True).encode())) % 2**31


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Sample:
    """One generation. ``reasoning`` is the ``<think>`` block, kept apart from the final ``answer``.

    ``truncated``: the sample hit the token limit (``finish_reason == "length"``) or its ``<think>``
    block never closed. Such a sample has no final answer (``answer`` is empty; ``text`` keeps all),
    so a ``\\boxed{}`` the model was still doubting can never count as its answer.
    """

    text: str
    reasoning: str | None
    answer: str
    tokens: int | None = None
    logprob: float | None = None
    finish_reason: str | None = None
    truncated: bool = False

    @classmethod
    def from_text(
        cls,
        text: str,
        stop: tuple[str, ...] = (),
        opened: bool = False,
        finish_reason: str | None = None,
        **kwargs: Any,
    ) -> Sample:
        """``opened``: the prompt itself ended in ``<think>`` (DeepSeek-R1 templates, Qwen3 thinking on),
        so the completion carries only the closing tag."""
        text = cut_at_stop(text, stop)
        reasoning, answer, closed = split_reasoning(text, opened)
        truncated = finish_reason == "length" or not closed
        return cls(
            text, reasoning, "" if truncated else answer, finish_reason=finish_reason, truncated=truncated, **kwargs
        )


def split_reasoning(text: str, opened: bool = False) -> tuple[str | None, str, bool]:
    """(reasoning, answer, closed). A block opens only at the very start (elsewhere ``<think>`` is
    text, e.g. quoted from a question) or in the prompt; the first ``</think>`` closes it, so a tag
    quoted in the answer stays in the answer. ``closed`` is False when the block never ends, or when
    the answer opens another one and stops inside it."""
    body = text.lstrip()
    if body.startswith("<think>"):
        inside, tag, answer = body.removeprefix("<think>").partition("</think>")
    else:
        inside, tag, answer = text.partition("</think>")
        if not tag:
            return (text.strip(), "", False) if opened else (None, text.strip(), True)
    if not tag:
        return inside.strip(), "", False
    _, reopened, after = answer.rpartition("<think>")
    return inside.strip(), answer.strip(), not (reopened and "</think>" not in after)


def special_tokens(tokenizer: Any) -> re.Pattern[str] | None:
    """The special tokens a decoded sample drops: all but the reasoning tags, which some tokenizers
    mark special too (``skip_special_tokens`` would erase where the answer starts)."""
    names = {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    names = (names | set(getattr(tokenizer, "all_special_tokens", []))) - {"<think>", "</think>"}
    return re.compile("|".join(map(re.escape, sorted(names, key=len, reverse=True)))) if names else None


def opens_reasoning(tokenizer: Any, chat: ChatOptions) -> bool:
    """Whether this chat template starts the assistant turn inside ``<think>``."""
    probe = render(tokenizer, chat, [{"role": "user", "content": "1 + 1?"}])
    return probe.rstrip().endswith("<think>")


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Servers differ on whether a stop string stays in the text; never keep it."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


@dataclass
class Completion:
    """The samples for one prompt. ``refused`` says why a prompt was never sent (it has no samples):
    a prompt over the model's context would make vLLM refuse the whole chunk, on every retry."""

    samples: list[Sample]
    warnings: list[str] = field(default_factory=list)
    refused: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        return cls([Sample(**s) for s in data["samples"]], data["warnings"], data["refused"])


@dataclass(frozen=True)
class ChatOptions:
    """How conversations are rendered: optional system prompt, and thinking on/off for templates that
    support it (Qwen3's ``enable_thinking``); None leaves the template's default."""

    system_prompt: str | None = None
    enable_thinking: bool | None = None

    def messages(self, conversation: Conversation) -> Conversation:
        if self.system_prompt and not (conversation and conversation[0]["role"] == "system"):
            return [{"role": "system", "content": self.system_prompt}, *conversation]
        return conversation

    def template_kwargs(self) -> dict[str, Any]:
        return {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}


def render(tokenizer: Any, chat: ChatOptions, conversation: Conversation) -> str:
    """The prompt text a local engine feeds its model, through the tokenizer's chat template."""
    return tokenizer.apply_chat_template(
        chat.messages(conversation), tokenize=False, add_generation_prompt=True, **chat.template_kwargs()
    )


def prompt_lengths(tokenizer: Any, chat: ChatOptions, conversations: list[Conversation]) -> list[int]:
    """Prompt tokens per conversation, to keep prompts over a budget away from the engine."""
    if not conversations:
        return []
    texts = [render(tokenizer, chat, c) for c in conversations]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def send_fitting(
    conversations: list[Conversation],
    lengths: list[int],
    limit: int | None,
    run: Callable[[list[Conversation]], list[Completion]],
) -> list[Completion]:
    """Run only the prompts that leave room for at least one new token; the others come back refused,
    with their length, and are never sent (one would make vLLM refuse the whole call)."""
    refused = {
        i: f"prompt has {n:,} tokens, the model's context is {limit:,} (--max-model-len)"
        for i, n in enumerate(lengths)
        if limit is not None and n >= limit
    }
    sent = [c for i, c in enumerate(conversations) if i not in refused]
    done = iter(run(sent) if sent else [])
    return [Completion([], refused=refused[i]) if i in refused else next(done) for i in range(len(conversations))]


class Engine(Protocol):
    name: str
    model: str

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]: ...

    def describe(self) -> dict[str, Any]: ...


def with_chat(engine: Engine, chat: ChatOptions) -> Engine:
    """The same loaded model under other chat options (a judge with thinking off reuses the solver)."""
    clone = copy.copy(engine)
    clone.chat = chat  # type: ignore[attr-defined]
    return clone
