"""Any input row as one conversation: OpenAI/TRL ``messages``, ShareGPT ``conversations``, or hh-rlhf transcripts.

The export reads every shape into one form, :class:`Conversation` (a system prompt, the turns, the tools), and
writes each format from it, so a row round-trips messages -> ShareGPT -> messages whenever ShareGPT can hold
it. A turn is ``{role, content}`` with role ``user``, ``assistant`` or ``tool``; an assistant turn may carry
``reasoning`` (its ``<think>`` block, kept apart) and ``tool_calls`` (``[{name, arguments}]``, the arguments
parsed from JSON). A shape that is wrong (unknown role, empty content, a bad tool call, a transcript without
its ``Human:``/``Assistant:`` markers) is a :class:`RowError` naming the field.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sftkit.export.reasoning import RowError, check_reasoning_field, split_balanced

MESSAGE_ROLES = ("system", "user", "assistant", "tool")
# LLaMA-Factory's default ShareGPT tags (data/README.md): role -> ours; function_call is an assistant's tool call
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "gpt": "assistant",
    "function_call": "assistant",
    "observation": "tool",
}
SHAREGPT_TAGS = {"user": "human", "assistant": "gpt", "tool": "observation", "system": "system"}
_TRANSCRIPT = re.compile(r"\n\n(Human|Assistant):")  # Anthropic hh-rlhf's turn markers


@dataclass
class Conversation:
    turns: list[dict[str, Any]]
    system: str | None = None
    tools: str | None = None  # the tool schemas as JSON text (what LLaMA-Factory reads, and TRL json.loads)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def first_user(self) -> str:
        return next(t["content"] for t in self.turns if t["role"] == "user")


def dumps(value: Any) -> str:
    """JSON text the same way everywhere, so a round trip gives the same bytes."""
    return json.dumps(value, ensure_ascii=False)


def _content(value: Any, where: str, allow_empty: bool = False) -> str:
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise RowError(f"{where}: content is {type(value).__name__}, not text")
    if not value.strip() and not allow_empty:
        raise RowError(f"{where}: empty content")
    return value


def _call(call: Any, where: str) -> dict[str, Any]:
    """One tool call, OpenAI (``{type, function: {name, arguments}}``) or flat (``{name, arguments}``)."""
    if not isinstance(call, dict):
        raise RowError(f"{where}: a tool call is {type(call).__name__}, not an object")
    fn = call.get("function", call)
    name, arguments = (fn.get("name"), fn.get("arguments")) if isinstance(fn, dict) else (None, None)
    if not isinstance(name, str) or not name:
        raise RowError(f"{where}: a tool call without a function name")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise RowError(f"{where}: tool call {name!r}: arguments are not JSON") from None
    if not isinstance(arguments, dict):
        raise RowError(f"{where}: tool call {name!r}: arguments are {type(arguments).__name__}, not an object")
    return {"name": name, "arguments": arguments, **({"id": call["id"]} if call.get("id") else {})}


def assistant_turn(content: str, reasoning: Any, calls: list[dict[str, Any]], where: str) -> dict[str, Any]:
    """An assistant turn with its reasoning split off (a ``<think>`` block or a separate field)."""
    thought, answer = split_balanced(content) if content else (None, "")
    if isinstance(reasoning, str) and reasoning.strip():
        thought = check_reasoning_field(reasoning)
    if not answer and not calls:
        raise RowError(f"{where}: empty content" + (" (only reasoning)" if thought else ""))
    return {"role": "assistant", "content": answer, "reasoning": thought, **({"tool_calls": calls} if calls else {})}


def checked(turns: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """A conversation a trainer can learn from: a user turn first, an assistant turn last, tool results only
    after a tool call."""
    if not turns or turns[0]["role"] != "user":
        raise RowError(f"{where}: the first turn (after any system turn) is not the user's")
    if turns[-1]["role"] != "assistant":
        raise RowError(f"{where}: the last turn is not the assistant's (nothing to learn)")
    for k, (before, turn) in enumerate(itertools.pairwise(turns), start=1):
        if turn["role"] == "tool" and not (before["role"] == "tool" or before.get("tool_calls")):
            raise RowError(f"{where} turn {k}: a tool result that follows no tool call")
    return turns


def parse_tools(value: Any, where: str) -> str | None:
    """Tool schemas as JSON text: a list given as JSON text or as a list."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RowError(f"field {where!r}: not JSON") from None
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise RowError(f"field {where!r}: not a list of tool schemas")
    return dumps(value)


def from_messages(value: Any, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """(turns, system) of OpenAI/TRL messages: ``{role, content}``, assistant ``tool_calls``, ``tool`` results."""
    turns, system = parse_messages(value, name)
    return checked(turns, f"field {name!r}"), system


def parse_messages(value: Any, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """(turns, system) of messages, each checked, the conversation as a whole not (a preference side may be
    one assistant turn)."""
    if not isinstance(value, list) or not value:
        raise RowError(f"field {name!r}: not a list of messages")
    system, turns = None, []
    for k, m in enumerate(value):
        where = f"field {name!r} turn {k}"
        if not isinstance(m, dict):
            raise RowError(f"{where}: {type(m).__name__}, not a message object")
        role = m.get("role")
        if role not in MESSAGE_ROLES:
            raise RowError(f"{where}: unknown role {role!r} (one of {', '.join(MESSAGE_ROLES)})")
        if role == "system":
            if k:
                raise RowError(f"{where}: a system turn after the first turn")
            system = _content(m.get("content"), where)
        elif role == "assistant":
            calls = [_call(c, where) for c in m.get("tool_calls") or []]
            text = _content(m.get("content"), where, bool(calls))
            turns.append(assistant_turn(text, m.get("reasoning_content"), calls, where))
        else:
            extra = {key: m[key] for key in ("tool_call_id", "name") if role == "tool" and m.get(key)}
            turns.append({"role": role, "content": _content(m.get("content"), where), **extra})
    return turns, system


def from_sharegpt(value: Any, name: str) -> tuple[list[dict[str, Any]], str | None]:
    """(turns, system) of ShareGPT ``{from, value}`` turns with LLaMA-Factory's tags; a ``function_call`` holds
    one call ``{name, arguments}`` or a list of them as JSON text."""
    if not isinstance(value, list) or not value:
        raise RowError(f"field {name!r}: not a list of turns")
    system, turns = None, []
    for k, t in enumerate(value):
        where = f"field {name!r} turn {k}"
        tag = t.get("from") if isinstance(t, dict) else None
        if tag not in SHAREGPT_ROLES:
            raise RowError(f"{where}: unknown role {tag!r} (one of {', '.join(SHAREGPT_ROLES)})")
        text = _content(t.get("value"), where)
        if tag == "system":
            if k:
                raise RowError(f"{where}: a system turn after the first turn")
            system = text
        elif tag == "function_call":
            try:
                calls = json.loads(text)
            except ValueError:
                raise RowError(f"{where}: function_call value is not JSON") from None
            calls = [_call(c, where) for c in (calls if isinstance(calls, list) else [calls])]
            turns.append(assistant_turn("", None, calls, where))
        elif tag == "gpt":
            turns.append(assistant_turn(text, None, [], where))
        else:
            turns.append({"role": SHAREGPT_ROLES[tag], "content": text})
    return checked(turns, f"field {name!r}"), system


def from_transcript(text: Any, name: str) -> list[dict[str, Any]]:
    """Anthropic hh-rlhf's ``\\n\\nHuman: ...\\n\\nAssistant: ...`` transcript as turns, alternating from Human."""
    if not isinstance(text, str):
        raise RowError(f"field {name!r}: {type(text).__name__}, not a transcript")
    parts = _TRANSCRIPT.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise RowError(f"field {name!r}: not a transcript (it must start with '\\n\\nHuman:')")
    turns = []
    for k, (speaker, said) in enumerate(zip(parts[1::2], parts[2::2], strict=True)):
        role = "user" if speaker == "Human" else "assistant"
        if role != ("user" if k % 2 == 0 else "assistant"):
            raise RowError(f"field {name!r} turn {k}: {speaker} twice in a row (turns must alternate)")
        said = said.strip()
        if not said:
            raise RowError(f"field {name!r} turn {k}: empty {speaker} turn")
        turns.append({"role": role, "content": said} if role == "user" else assistant_turn(said, None, [], name))
    return turns


def alternates(turns: list[dict[str, Any]]) -> bool:
    """User or tool turns at even positions, assistant turns at odd ones: what ShareGPT and Alpaca need."""
    return all((t["role"] == "assistant") == (k % 2 == 1) for k, t in enumerate(turns))
