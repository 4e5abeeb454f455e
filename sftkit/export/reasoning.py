"""Balanced ``<think>`` blocks for training data, with the stages' own split of reasoning from answer.

A trainer learns exactly the text it is given, so an exported reasoning block always opens and
closes: a completion that carries only ``</think>`` (its chat template opened the block) gets its
opening tag; one whose block never closes has no answer, and one whose reasoning holds another tag
(a nested block, or a ``<think>`` after some text) would export two openings for one closing: both
are rejected.
"""

from __future__ import annotations

from sftkit.engines.base import split_reasoning

REASONING_MODES = ("inline", "field", "drop")


class RowError(ValueError):
    """Why a row cannot become a training example (it goes to the rejects file)."""


def split_balanced(text: str) -> tuple[str | None, str]:
    """(reasoning or None, answer) of a completion, or RowError when its tags do not balance."""
    reasoning, answer, closed = split_reasoning(text)
    if not closed:
        raise RowError("reasoning never closed: <think> without </think>")
    if reasoning and ("<think>" in reasoning or "</think>" in reasoning):
        raise RowError("a <think> tag inside the reasoning (nested, or text before the block)")
    if answer.count("<think>") != answer.count("</think>"):
        raise RowError("a stray <think> or </think> tag after the reasoning")
    return reasoning or None, answer


def check_reasoning_field(text: str) -> str:
    """A separate reasoning field holds the thoughts alone; a tag inside it would nest blocks."""
    if "<think>" in text or "</think>" in text:
        raise RowError("the reasoning field holds a <think> tag itself")
    return text.strip()


def inline(reasoning: str | None, answer: str) -> str:
    """The assistant text with its reasoning in front, as Qwen3 and DeepSeek-R1 templates render it."""
    return f"<think>\n{reasoning}\n</think>\n\n{answer}" if reasoning else answer
