"""New problems from seed problems: prompt, robust JSON extraction, and quarantine of bad generations."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sftkit.data.batch import Batch
from sftkit.data.errors import Reject
from sftkit.engines.base import Engine, Sampling
from sftkit.prompts import fill
from sftkit.stage import StageResult

DEFAULT_PROMPT = """Here is a seed math problem and its answer.

Problem: {{question}}
Answer: {{answer}}

Write one new problem that is different from the seed but uses a related idea, and solve it.
Reply with only a JSON object: {"question": "<the new problem>", "answer": "<its final answer>"}"""

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The object in a fenced block, the whole text, or the last object in it; None if there is none."""
    candidates = [m.strip() for m in reversed(_FENCE.findall(text))] + [text.strip()]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for start in reversed([m.start() for m in re.finditer(r"\{", text)]):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _copies(question: str, seed: str) -> bool:
    """Same text, or a light rewording with the very same numbers (new numbers make a new problem)."""
    a, b = _normal(question), _normal(seed)
    if a == b:
        return True
    return sorted(_NUMBER.findall(a)) == sorted(_NUMBER.findall(b)) and (
        difflib.SequenceMatcher(None, a, b).ratio() >= 0.9)


def parse_generated(text: str, seed_question: str) -> tuple[dict[str, str] | None, str | None]:
    """({question, answer}, None), or (None, why it is rejected)."""
    if not text.strip():
        return None, "empty generation"
    obj = extract_json_object(text)
    if obj is None:
        return None, "no JSON object in the generation"
    question, answer = obj.get("question"), obj.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(question, str) or not isinstance(answer, str):
        return None, "JSON object lacks a string 'question' and 'answer'"
    if not question.strip() or not answer.strip():
        return None, "empty question or answer"
    if _copies(question, seed_question):
        return None, "copies its seed problem"
    return {"question": question.strip(), "answer": answer.strip()}, None


@dataclass
class SeedGenerator:
    """Per batch of seeds: one chunked engine call, then parse; bad generations are quarantined."""

    engine: Engine
    sampling: Sampling
    template: str
    question_field: str
    answer_field: str
    id_field: str
    provenance: dict[str, Any]

    def __call__(self, batch: Batch) -> StageResult:
        batch.require([self.question_field])
        seeds = batch.records(self.id_field)
        prompts = [fill(self.template, {"question": s.get(self.question_field, ""),
                                        "answer": s.get(self.answer_field, "")}, "generation prompt") for s in seeds]
        completions = self.engine.generate([[{"role": "user", "content": p}] for p in prompts], self.sampling)
        records, quarantine, counts = [], [], Counter(seeds=len(seeds))
        for pos, (seed, completion) in enumerate(zip(seeds, completions)):
            for warning in completion.warnings:
                counts[f"engine warning: {warning}"] += 1
            for k, sample in enumerate(completion.samples):
                counts["generated"] += 1
                parsed, why = parse_generated(sample.answer, str(seed.get(self.question_field, "")))
                if why:
                    counts[f"rejected: {why}"] += 1
                    quarantine.append(Reject(int(batch.indices[pos]), batch.location(pos), why,
                                             {"seed_id": seed[self.id_field], "sample": k, "text": sample.text}))
                    continue
                counts["kept"] += 1
                records.append({"id": f"{seed[self.id_field]}-gen{k}", "seed_id": seed[self.id_field], **parsed,
                                "reasoning": sample.reasoning, "seed_question": seed.get(self.question_field),
                                "generation": {**self.provenance, "sample": k, "finish_reason": sample.finish_reason}})
        return StageResult(records, counts=counts, quarantine=quarantine)
