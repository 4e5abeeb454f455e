"""One stage row as one training example, in the shape a trainer reads.

- ``messages``: OpenAI/TRL chat, ``[{role, content}]`` (``reasoning_content`` on the assistant turn
  with ``--reasoning field``: what Qwen3-style templates read);
- ``sharegpt``: LLaMA-Factory's ``conversations`` of ``{from, value}`` (``human``/``gpt``);
- ``alpaca``: LLaMA-Factory's single turn ``instruction``/``input``/``output``;
- ``dpo``: preference pairs (sftkit/export/pairs.py): TRL's ``prompt``/``chosen``/``rejected`` messages.

A row is a question and its solution, or a whole conversation (``messages`` or ShareGPT ``conversations``,
with tools and a system prompt: sftkit/export/conversation.py); a format that cannot express it rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftkit.export.conversation import (
    SHAREGPT_TAGS,
    Conversation,
    alternates,
    dumps,
    from_messages,
    from_sharegpt,
    parse_tools,
)
from sftkit.export.reasoning import RowError, check_reasoning_field, inline, split_balanced

FORMATS = ("messages", "sharegpt", "alpaca", "dpo")
# the example's own columns: --keep-fields cannot name them (`system` can: a format with that column holds it)
FORMAT_COLUMNS = {
    "messages",
    "conversations",
    "instruction",
    "input",
    "output",
    "reasoning_content",
    "tools",
    "prompt",
    "chosen",
    "rejected",
    "chosen_turn",
    "rejected_turn",
}
PAIR_COLUMNS = {"prompt", "chosen", "rejected", "chosen_turn", "rejected_turn"}  # dpo's alone: others may keep them

# the stages' own names, first match wins: seeds keep `problem`/`generated_solution`/`expected_answer`,
# generation and the difficulty scorer write `question`/`answer`
DEFAULT_FIELDS = {
    "question": ("problem", "question"),
    "solution": ("generated_solution", "solution"),
    "reasoning": ("reasoning", "reasoning_content"),
    "answer": ("expected_answer", "answer"),
    "conversation": ("messages", "conversations"),  # a whole conversation: OpenAI/TRL or ShareGPT turns
    "system": ("system",),
    "tools": ("tools",),
}


@dataclass(frozen=True)
class FieldMap:
    """Which input field plays which part; a flag names one field, else the stages' names are tried."""

    question: tuple[str, ...] = DEFAULT_FIELDS["question"]
    solution: tuple[str, ...] = DEFAULT_FIELDS["solution"]
    reasoning: tuple[str, ...] = DEFAULT_FIELDS["reasoning"]
    answer: tuple[str, ...] = DEFAULT_FIELDS["answer"]
    conversation: tuple[str, ...] = DEFAULT_FIELDS["conversation"]
    system: tuple[str, ...] = DEFAULT_FIELDS["system"]
    tools: tuple[str, ...] = DEFAULT_FIELDS["tools"]

    def mapped(self) -> set[str]:
        return {*self.question, *self.solution, *self.reasoning, *self.answer, *self.conversation, *self.system}


@dataclass(frozen=True)
class FormatOptions:
    format: str = "messages"
    reasoning: str = "inline"  # inline | field | drop
    system_prompt: str | None = None
    fields: FieldMap = FieldMap()


def field_text(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(field name, its text) of the first of ``names`` the row has, else (None, None)."""
    for name in names:
        value = row.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise RowError(f"field {name!r} is {type(value).__name__}, not text")
            return name, value
    return None, None


def turn(row: dict[str, Any], fields: FieldMap) -> tuple[str, str | None, str]:
    """(question, reasoning, answer) of a row: the solution is the assistant's text (the answer field
    when the row has no solution), its ``<think>`` block or the reasoning field its reasoning."""
    _, question = field_text(row, fields.question)
    if question is None or not question.strip():
        raise RowError(f"no question: {' / '.join(fields.question)} missing or empty")
    _, solution = field_text(row, fields.solution)
    if solution is None or not solution.strip():
        _, solution = field_text(row, fields.answer)
    if solution is None:
        raise RowError(f"no solution or answer: {' / '.join(fields.solution + fields.answer)} missing")
    reasoning, answer = split_balanced(solution)
    _, separate = field_text(row, fields.reasoning)
    if separate is not None and separate.strip():
        reasoning = check_reasoning_field(separate)
    if not answer:
        raise RowError("empty answer" + (" (only reasoning)" if reasoning else ""))
    return question.strip(), reasoning, answer


def _first(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, Any]:
    """(field name, value) of the first of ``names`` the row has, whatever its type, else (None, None)."""
    return next(((n, row[n]) for n in names if row.get(n) is not None), (None, None))


def system_of(row: dict[str, Any], opts: FormatOptions) -> str | None:
    """The row's own system field, else --system-prompt."""
    _, own = field_text(row, opts.fields.system)
    return own if own is not None and own.strip() else opts.system_prompt


def conversation(row: dict[str, Any], opts: FormatOptions) -> Conversation:
    """Any row as a conversation: its ``messages``/``conversations`` (a system turn there wins over a system
    field and --system-prompt), else its question and solution as one exchange."""
    name, value = _first(row, opts.fields.conversation)
    if name is None:
        question, reasoning, answer = turn(row, opts.fields)
        turns = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer, "reasoning": reasoning},
        ]
        system = None
    elif isinstance(value, list) and value and isinstance(value[0], dict) and "from" in value[0]:
        turns, system = from_sharegpt(value, name)
        _, separate = field_text(row, opts.fields.reasoning)  # ShareGPT's one reasoning_content: the last turn's
        if separate is not None and separate.strip():
            turns[-1]["reasoning"] = check_reasoning_field(separate)
    else:
        turns, system = from_messages(value, name)
    tools_name, tools = _first(row, opts.fields.tools)
    return Conversation(turns, system or system_of(row, opts), parse_tools(tools, tools_name or ""))


def message(turn: dict[str, Any], reasoning: str) -> dict[str, Any]:
    """A turn as an OpenAI/TRL message: tool call arguments as JSON text, reasoning as --reasoning says."""
    if turn["role"] != "assistant":
        return {k: v for k, v in turn.items() if k != "reasoning"}
    thought, content = turn.get("reasoning"), turn["content"]
    out = {"role": "assistant", "content": inline(thought, content) if reasoning == "inline" else content}
    if reasoning == "field":
        out["reasoning_content"] = thought or ""
    if turn.get("tool_calls"):
        out["tool_calls"] = [
            {
                **({"id": c["id"]} if "id" in c else {}),
                "type": "function",
                "function": {"name": c["name"], "arguments": dumps(c["arguments"])},
            }
            for c in turn["tool_calls"]
        ]
    return out


def _sharegpt_turn(turn: dict[str, Any], reasoning: str) -> dict[str, str]:
    m = message(turn, reasoning)
    calls = turn.get("tool_calls")
    if not calls:
        return {"from": SHAREGPT_TAGS[turn["role"]], "value": m["content"]}
    if m["content"]:
        raise RowError("sharegpt cannot hold an assistant turn with both text and tool calls (function_call: calls)")
    value = [{"name": c["name"], "arguments": c["arguments"]} for c in calls]
    return {"from": "function_call", "value": dumps(value[0] if len(value) == 1 else value)}


def to_record(conv: Conversation, opts: FormatOptions) -> dict[str, Any]:
    """The example's format-specific columns; RowError when the format cannot express the conversation."""
    tools = {"tools": conv.tools} if conv.tools else {}
    if opts.format == "messages":
        system = [{"role": "system", "content": conv.system}] if conv.system else []
        return {"messages": [*system, *(message(t, opts.reasoning) for t in conv.turns)], **tools}
    if not alternates(conv.turns):
        roles = ", ".join(t["role"] for t in conv.turns)
        raise RowError(f"{opts.format} needs user (or tool) and assistant turns in alternation: {roles}")
    if opts.reasoning == "field" and any(t.get("reasoning") for t in conv.turns[:-1]):
        raise RowError(
            f"{opts.format} holds one reasoning_content per row, the last turn's: an earlier assistant turn's "
            "reasoning would be lost (use --reasoning inline, or --format messages)"
        )
    system = {"system": conv.system} if conv.system else {}
    extra = {"reasoning_content": conv.turns[-1].get("reasoning") or ""} if opts.reasoning == "field" else {}
    if opts.format == "sharegpt":
        turns = [_sharegpt_turn(t, opts.reasoning) for t in conv.turns]
        return {"conversations": turns, **system, **tools, **extra}
    if tools or any(t.get("tool_calls") for t in conv.turns):
        raise RowError("alpaca has no place for tools or tool calls: use --format messages or sharegpt")
    if len(conv.turns) != 2:
        raise RowError(f"alpaca holds one question and one answer: this row has {len(conv.turns)} turns")
    output = message(conv.turns[1], opts.reasoning)["content"]
    return {"instruction": conv.turns[0]["content"], "input": "", "output": output, **system, **extra}


def assistant_text(record: dict[str, Any]) -> str:
    """What the model learns to write, reasoning included: the lengths a card's histogram shows."""
    if "messages" in record or "chosen" in record:
        last = record["messages" if "messages" in record else "chosen"][-1]
        return (last.get("reasoning_content") or "") + last["content"]
    answer = record["conversations"][-1]["value"] if "conversations" in record else record["output"]
    return record.get("reasoning_content", "") + answer
