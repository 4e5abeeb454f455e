"""One stage row as one training example, in the shape a trainer reads.

- ``messages``: OpenAI/TRL chat, ``[{role, content}]`` (``reasoning_content`` on the assistant turn
  with ``--reasoning field``: what Qwen3-style templates read);
- ``sharegpt``: LLaMA-Factory's ``conversations`` of ``{from, value}`` (``human``/``gpt``);
- ``alpaca``: LLaMA-Factory's single turn ``instruction``/``input``/``output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftkit.export.reasoning import RowError, check_reasoning_field, inline, split_balanced

FORMATS = ("messages", "sharegpt", "alpaca")
FORMAT_COLUMNS = {"messages", "conversations", "system", "instruction", "input", "output", "reasoning_content"}

# the stages' own names, first match wins: seeds keep `problem`/`generated_solution`/`expected_answer`,
# generation and the difficulty scorer write `question`/`answer`
DEFAULT_FIELDS = {
    "question": ("problem", "question"),
    "solution": ("generated_solution", "solution"),
    "reasoning": ("reasoning", "reasoning_content"),
    "answer": ("expected_answer", "answer"),
}


@dataclass(frozen=True)
class FieldMap:
    """Which input field plays which part; a flag names one field, else the stages' names are tried."""

    question: tuple[str, ...] = DEFAULT_FIELDS["question"]
    solution: tuple[str, ...] = DEFAULT_FIELDS["solution"]
    reasoning: tuple[str, ...] = DEFAULT_FIELDS["reasoning"]
    answer: tuple[str, ...] = DEFAULT_FIELDS["answer"]

    def mapped(self) -> set[str]:
        return {*self.question, *self.solution, *self.reasoning, *self.answer}


@dataclass(frozen=True)
class FormatOptions:
    format: str = "messages"
    reasoning: str = "inline"  # inline | field | drop
    system_prompt: str | None = None
    fields: FieldMap = FieldMap()


def _text(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str | None, str | None]:
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
    _, question = _text(row, fields.question)
    if question is None or not question.strip():
        raise RowError(f"no question: {' / '.join(fields.question)} missing or empty")
    _, solution = _text(row, fields.solution)
    if solution is None or not solution.strip():
        _, solution = _text(row, fields.answer)
    if solution is None:
        raise RowError(f"no solution or answer: {' / '.join(fields.solution + fields.answer)} missing")
    reasoning, answer = split_balanced(solution)
    _, separate = _text(row, fields.reasoning)
    if separate is not None and separate.strip():
        reasoning = check_reasoning_field(separate)
    if not answer:
        raise RowError("empty answer" + (" (only reasoning)" if reasoning else ""))
    return question.strip(), reasoning, answer


def to_record(question: str, reasoning: str | None, answer: str, opts: FormatOptions) -> dict[str, Any]:
    """The example's format-specific columns."""
    content = inline(reasoning, answer) if opts.reasoning == "inline" else answer
    extra = {"reasoning_content": reasoning or ""} if opts.reasoning == "field" else {}
    if opts.format == "messages":
        system = [{"role": "system", "content": opts.system_prompt}] if opts.system_prompt else []
        return {
            "messages": [
                *system,
                {"role": "user", "content": question},
                {"role": "assistant", "content": content, **extra},
            ]
        }
    system = {"system": opts.system_prompt} if opts.system_prompt else {}
    if opts.format == "sharegpt":
        return {
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": content}],
            **system,
            **extra,
        }
    return {"instruction": question, "input": "", "output": content, **system, **extra}


def assistant_text(record: dict[str, Any]) -> str:
    """What the model learns to write, reasoning included: the lengths a card's histogram shows."""
    if "messages" in record:
        last = record["messages"][-1]
        return (last.get("reasoning_content") or "") + last["content"]
    answer = record["conversations"][-1]["value"] if "conversations" in record else record["output"]
    return record.get("reasoning_content", "") + answer
