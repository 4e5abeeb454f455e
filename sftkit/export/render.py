"""Prove exported rows load in a real chat template, keep their reasoning there, and show one rendered the
way a trainer sees it.

A trainer learns only what the chat template renders. Many templates (Llama 3.x, Gemma, gpt-oss, Phi,
Qwen2.5, DeepSeek-R1-Distill...) never read ``reasoning_content``, and R1-Distill also cuts an inline
``<think>`` block from the assistant text: such an export would train on answers without their reasoning,
silently. So every exported row goes through the template, and a row whose reasoning is not in its
rendering stops the export, naming the template and the ``--reasoning`` mode that would keep it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sftkit.engines.base import split_reasoning
from sftkit.errors import InputError
from sftkit.export.conversation import from_sharegpt
from sftkit.export.formats import message
from sftkit.export.reasoning import inline


@dataclass(frozen=True)
class Rendered:
    """One exported row and its rendering: the card shows both, so they are the same row."""

    record: dict[str, Any]
    text: str


def chat(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Any exported record as ``[{role, content}]`` (``reasoning_content`` on the assistant turn)."""
    if "messages" in record or "prompt" in record:
        messages = record["messages"] if "messages" in record else record["prompt"] + record["chosen"]
        return [{k: v for k, v in m.items() if v is not None} for m in messages]
    system = [{"role": "system", "content": record["system"]}] if record.get("system") else []
    if "conversations" in record:
        turns = [message(t, "inline") for t in from_sharegpt(record["conversations"], "conversations")[0]]
    else:
        prompt = "\n".join(p for p in (record["instruction"], record["input"]) if p)
        turns = [{"role": "user", "content": prompt}, {"role": "assistant", "content": record["output"]}]
    if record.get("reasoning_content"):
        turns[-1]["reasoning_content"] = record["reasoning_content"]
    return system + turns


def reasoning_texts(messages: list[dict[str, Any]]) -> list[str]:
    """Each assistant turn's reasoning as exported: its ``reasoning_content``, else its leading ``<think>`` block."""
    found = []
    for m in messages:
        if m.get("role") != "assistant":
            continue
        text = m.get("reasoning_content")
        if not text and isinstance(m.get("content"), str):
            text, _, closed = split_reasoning(m["content"])
            text = text if closed else None
        if text and text.strip():
            found.append(text.strip())
    return found


def _moved(messages: list[dict[str, Any]], to_inline: bool) -> list[dict[str, Any]]:
    """The same turns with their reasoning the other way: inline ``<think>`` blocks, or ``reasoning_content``."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("role") == "assistant" and isinstance(m.get("content"), str):
            if to_inline and m.get("reasoning_content"):
                m["content"] = inline(m.pop("reasoning_content"), m["content"])
            elif not to_inline and not m.get("reasoning_content"):
                reasoning, answer, closed = split_reasoning(m["content"])
                if reasoning and closed:
                    m.update(content=answer, reasoning_content=reasoning)
        out.append(m)
    return out


class Template:
    """A tokenizer's chat template, loaded once; every failure is one line naming ``--tokenizer``."""

    def __init__(self, path: str) -> None:
        from transformers import AutoTokenizer

        self.path = path
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"--tokenizer {path}: cannot load a tokenizer ({exc})") from None
        if not getattr(self.tokenizer, "chat_template", None):
            raise InputError(f"--tokenizer {path}: has no chat template")
        self.tools: list[Any] | None = None  # the tool schemas of the row being checked

    def render(self, messages: list[dict[str, Any]], where: str) -> str:
        try:
            return self.tokenizer.apply_chat_template(messages, tools=self.tools, tokenize=False)
        except Exception as exc:  # jinja raises its own errors, and templates raise on purpose
            raise InputError(
                f"--tokenizer {self.path}: its chat template fails on exported {where}: {type(exc).__name__}: {exc}"
            ) from None

    def _keeps(self, messages: list[dict[str, Any]], where: str) -> bool:
        rendered = self.render(messages, where)
        return all(r in rendered for r in reasoning_texts(messages))

    def dropped(self, messages: list[dict[str, Any]], where: str) -> str:
        """Why this template loses the row's reasoning, and what would keep it."""
        field = any(m.get("reasoning_content") for m in messages)
        if field:
            what = "drops `reasoning_content` (the reasoning of --reasoning field)"
            if self._keeps(_moved(messages, to_inline=True), where):
                return f"{what}; it keeps an inline <think> block: use --reasoning inline"
        else:
            what = "drops the inline <think> block (the reasoning of --reasoning inline) from the assistant text"
            if self._keeps(_moved(messages, to_inline=False), where):
                return f"{what}; it reads `reasoning_content`: use --reasoning field with --format messages"
        return (
            f"{what}, and the reasoning written the other way too: train with a template that keeps reasoning, "
            "or give --reasoning drop to export the answers alone on purpose"
        )

    def check(self, record: dict[str, Any], where: str) -> str:
        """The row's rendering (a pair's chosen side), or InputError when a reasoning text of the row is not in
        it; a pair's rejected side is rendered and checked too, since DPO trains on both."""
        self.tools = json.loads(record["tools"]) if record.get("tools") else None
        sides = [chat(record)]
        if "rejected" in record:
            sides.append(chat({**record, "chosen": record["rejected"]}))
        renderings = []
        for messages in sides:
            rendered = self.render(messages, where)
            if any(r not in rendered for r in reasoning_texts(messages)):
                raise InputError(
                    f"--tokenizer {self.path}: its chat template {self.dropped(messages, where)} "
                    f"(exported {where}: its reasoning is not in the rendering)"
                )
            renderings.append(rendered)
        return renderings[0]


def check_rows(template: Template, rows: Iterable[tuple[str, dict[str, Any]]]) -> Rendered | None:
    """Every ``(where, record)`` through ``template``, its reasoning checked; the first one rendered."""
    first = None
    for where, record in rows:
        text = template.check(record, where)
        if first is None:
            first = Rendered(record, text)
    return first
