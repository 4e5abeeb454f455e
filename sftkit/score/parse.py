"""How a judge's answer becomes scores, or the reason it gives none.

The format is strict: one ``NAME: score`` line per dimension (a line holding nothing else, Markdown
emphasis, a bullet and a ``/10`` allowed), or one JSON object ``{"NAME": score, ...}``; names match
case-insensitively, and by their aliases (a Chinese rubric's names). Only the final answer counts:
the engine has already split off any ``<think>`` block. Prose around the lines is ignored; a line
like ``accuracy: 8, mostly right`` is prose, not a score. When a dimension is given twice, the last
one counts (a judge that restates its scores at the end). Anything else is undecided with a reason:
a dimension missing, a score out of its scale, no scores at all, an answer cut at the token limit, or
a prompt the engine refused. Never a zero.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sftkit.engines.base import Completion
from sftkit.score.rubric import Rubric, name_key

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_LINE = re.compile(
    rf"^(?:[-*+•]\s+|\d+[.)]\s+)?(?P<name>[^:]+?)\s*:\s*(?P<score>{_NUMBER})\s*(?:/\s*{_NUMBER})?\s*(?:分)?\s*[.。]?$"
)
_MARKUP = re.compile(r"[*#`>~]+|(?<!\w)_+|_+(?!\w)")  # an underscore inside a name (runs_without_errors) stays
_BRACES = 64  # the last '{'s tried as the start of an object: a judge quoting code may write thousands
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


@dataclass
class Judgement:
    """One judge's reading of one row. ``scores`` holds what the answer gave that could be read (partial
    when undecided); ``total`` is None exactly when the judge is undecided, and ``reason`` then says why;
    ``kind`` is the reason's class, for the counts."""

    scores: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    reason: str | None = None
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "total": self.total,
            "reason": self.reason,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Judgement:
        return cls(data["scores"], data["total"], data["reason"], data["kind"])


def _from_lines(answer: str, rubric: Rubric) -> dict[str, float]:
    keys, found = rubric.by_key, {}
    for raw in answer.splitlines():
        if ":" not in raw and "：" not in raw:  # most prose: no NFKC, no regex
            continue
        match = _LINE.match(_MARKUP.sub("", unicodedata.normalize("NFKC", raw)).strip())
        if match and name_key(match.group("name")) in keys:
            found[keys[name_key(match.group("name"))].name] = float(match.group("score"))
    return found


def _objects(answer: str) -> list[dict[str, Any]]:
    """JSON objects in the answer, last first: a fenced block's, the whole answer's, then every ``{``'s."""
    decoder, found = json.JSONDecoder(), []
    for text in [*reversed(_FENCE.findall(answer)), answer.strip()]:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    if not found:
        for start in [m.start() for m in re.finditer(r"\{", answer)][::-1][:_BRACES]:
            try:
                value, _ = decoder.raw_decode(answer, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def _from_json(answer: str, rubric: Rubric) -> tuple[dict[str, float], list[str]] | None:
    """The first object naming a dimension: its numeric scores, and the dimensions whose value is no number."""
    keys = rubric.by_key
    for obj in _objects(answer):
        named = {keys[name_key(k)].name: v for k, v in obj.items() if isinstance(k, str) and name_key(k) in keys}
        if named:
            numbers = {n: float(v) for n, v in named.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            return numbers, [n for n in named if n not in numbers]
    return None


def parse_scores(answer: str, rubric: Rubric) -> Judgement:
    """The judgement in a final answer (the text after any ``<think>`` block)."""
    not_numbers: list[str] = []
    found_json = _from_json(answer, rubric) if "{" in answer else None
    if found_json is not None:
        scores, not_numbers = found_json
    else:
        scores = _from_lines(answer, rubric)
    if not scores and not not_numbers:
        start = " ".join(answer.split())[:80]
        return Judgement(
            reason=f"no 'NAME: score' line or JSON object with the rubric's dimensions (answer: {start!r})",
            kind="no scores",
        )
    out = [
        f"{d.name}: {scores[d.name]:g} is outside {d.scale()}"
        for d in rubric.dimensions
        if d.name in scores and not d.low <= scores[d.name] <= d.high
    ]
    missing = [d.name for d in rubric.dimensions if d.name not in scores]
    if missing:
        what = ", ".join(f"{m} (not a number)" if m in not_numbers else m for m in missing)
        return Judgement(scores, reason=f"missing dimension(s): {what}", kind="missing dimension")
    if out:
        return Judgement(scores, reason="; ".join(out), kind="score out of range")
    return Judgement(scores, total=round(rubric.total(scores), 6))


def judge(completion: Completion, rubric: Rubric) -> Judgement:
    """A judge's completion (one sample at temperature 0) as a judgement."""
    if completion.refused:
        return Judgement(reason=f"not sent: {completion.refused}", kind="refused")
    sample = completion.samples[0]
    if sample.truncated:
        why = "an unclosed <think> block" if sample.finish_reason != "length" else "the token limit"
        return Judgement(reason=f"answer cut by {why} (--judge-max-tokens)", kind="truncated")
    return parse_scores(sample.answer, rubric)
