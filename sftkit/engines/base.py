"""What every engine takes and gives back, so stages never care which engine ran."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

Message = dict[str, str]
Conversation = list[Message]

_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)


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
    """One generation. ``reasoning`` is the ``<think>`` block, kept apart from the final ``answer``."""

    text: str
    reasoning: str | None
    answer: str
    tokens: int | None = None
    logprob: float | None = None
    finish_reason: str | None = None

    @classmethod
    def from_text(cls, text: str, stop: tuple[str, ...] = (), **kwargs: Any) -> Sample:
        text = cut_at_stop(text, stop)
        match = _THINK.match(text)
        if match:
            return cls(text, match.group(1).strip(), text[match.end():].strip(), **kwargs)
        if "</think>" in text:  # the prompt opened the block (thinking forced on by the template)
            reasoning, _, answer = text.partition("</think>")
            return cls(text, reasoning.strip(), answer.strip(), **kwargs)
        return cls(text, None, text.strip(), **kwargs)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """Servers differ on whether a stop string stays in the text; never keep it."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


@dataclass
class Completion:
    samples: list[Sample]
    warnings: list[str] = field(default_factory=list)


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
    return tokenizer.apply_chat_template(chat.messages(conversation), tokenize=False, add_generation_prompt=True,
                                         **chat.template_kwargs())


def prompt_lengths(tokenizer: Any, chat: ChatOptions, conversations: list[Conversation]) -> list[int]:
    """Prompt tokens per conversation, to keep prompts over a budget away from the engine."""
    return [len(tokenizer(render(tokenizer, chat, c), add_special_tokens=False)["input_ids"]) for c in conversations]


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
