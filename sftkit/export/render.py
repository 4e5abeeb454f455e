"""Prove exported rows load in a real chat template, and show one rendered the way a trainer sees it."""

from __future__ import annotations

import json
from typing import Any

from sftkit.errors import InputError
from sftkit.export.conversation import from_sharegpt
from sftkit.export.formats import message

RENDERED_ROWS = 3


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


def render_rows(tokenizer_path: str, records: list[dict[str, Any]]) -> list[str]:
    """The first rows through ``apply_chat_template``; a template that refuses one stops the export."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    except (OSError, ValueError) as exc:
        raise InputError(f"--tokenizer {tokenizer_path}: cannot load a tokenizer ({exc})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"--tokenizer {tokenizer_path}: has no chat template")
    rendered = []
    for k, record in enumerate(records[:RENDERED_ROWS]):
        try:
            tools = json.loads(record["tools"]) if record.get("tools") else None
            rendered.append(tokenizer.apply_chat_template(chat(record), tools=tools, tokenize=False))
        except Exception as exc:  # jinja raises its own errors, and templates raise on purpose
            raise InputError(
                f"--tokenizer {tokenizer_path}: its chat template fails on exported row {k}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return rendered
