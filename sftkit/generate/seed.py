"""Seed generation: the prompt, parsing what the model wrote, and quarantine of the rest.

The default prompt asks for two tagged blocks, ``<question>…</question>`` and ``<answer>…</answer>``,
because nothing inside them needs escaping: LaTeX goes in as written. The last complete block of each
is taken (a model may write drafts first), byte-exact apart from surrounding whitespace.

JSON is still accepted (a fenced block, the whole text, or a trailing object), read by ``latex_json``,
which keeps the LaTeX in its strings that strict JSON would mangle or refuse.

A kept question or answer holds no control character but newline: ``\\r\\n`` and ``\\r`` become
``\\n``, a tab a space, and any other one rejects the generation. So do a sample cut at the token
limit or inside an unclosed ``<think>`` (even if a partial object parses), an empty field, and a
copy of the seed. A prompt the engine refused (never sent) is quarantined once per seed. Seed rows
whose question (or, when the prompt uses ``{{answer}}``, answer) is not usable text are bad input
rows, left to ``--on-bad-record``.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, number_text, usable_rows
from sftkit.engines.base import Engine, Sample, Sampling
from sftkit.errors import Reject
from sftkit.generate.latex_json import extract_json_object
from sftkit.prompts import fill, placeholders
from sftkit.runner.stage import StageResult

DEFAULT_PROMPT = """Here is a seed math problem and its answer.

Problem: {{question}}
Answer: {{answer}}

Write one new problem that is different from the seed but uses a related idea, and solve it.
Reply with the new problem between <question> and </question>, then only its final answer between <answer> and
</answer>. Write math as usual (LaTeX is fine): nothing inside the tags is escaped."""

LENGTH_CUT = "cut at the token limit (finish_reason=length)"
NEVER_CLOSED = "reasoning never closed"
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line separators


def last_block(text: str, tag: str) -> str | None:
    """The text of the last complete ``<tag>…</tag>`` (drafts before it are ignored), stripped."""
    close = text.rfind(f"</{tag}>")
    start = text.rfind(f"<{tag}>", 0, close) if close >= 0 else -1
    return None if start < 0 else text[start + len(tag) + 2 : close].strip()


def clean_text(value: str, name: str) -> tuple[str | None, str | None]:
    """(text, None) with line ends as ``\\n`` and tabs as spaces, or (None, the control character found)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    bad = _CONTROL.search(value)
    if bad:
        return None, f"control character U+{ord(bad.group()):04X} in {name}"
    return value.strip(), None


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _copies(question: str, seed: str) -> bool:
    """Same text, or a light rewording with the very same numbers (new numbers make a new problem)."""
    a, b = _normal(question), _normal(seed)
    if a == b:
        return True
    return sorted(_NUMBER.findall(a)) == sorted(_NUMBER.findall(b)) and (
        difflib.SequenceMatcher(None, a, b).ratio() >= 0.9
    )


def _fields(text: str) -> tuple[Any, Any, str | None]:
    """(question, answer, None) from the tagged blocks, else from a JSON object; or why there are none."""
    question, answer = last_block(text, "question"), last_block(text, "answer")
    if question is not None and answer is not None:
        return question, answer, None
    obj = extract_json_object(text)
    if obj is None:
        if question is None and answer is None:
            return None, None, "no <question>/<answer> blocks and no JSON object in the generation"
        missing = "answer" if answer is None else "question"
        return None, None, f"no complete <{missing}>…</{missing}> block and no JSON object"
    question, answer = obj.get("question"), obj.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = number_text(answer)
    if not isinstance(question, str) or not isinstance(answer, str):
        return None, None, "JSON object lacks a string 'question' and 'answer'"
    return question, answer, None


def parse_generated(text: str, seed_question: str) -> tuple[dict[str, str] | None, str | None]:
    """({question, answer}, None), or (None, why it is rejected)."""
    if not text.strip():
        return None, "empty generation"
    question, answer, why = _fields(text)
    if why:
        return None, why
    question, why = clean_text(question, "question")
    if why:
        return None, why
    answer, why = clean_text(answer, "answer")
    if why:
        return None, why
    if not question or not answer:
        return None, "empty question or answer"
    if _copies(question, seed_question):
        return None, "copies its seed problem"
    return {"question": question, "answer": answer}, None


def parse_sample(sample: Sample, seed_question: str) -> tuple[dict[str, str] | None, str | None]:
    """As ``parse_generated``, but a cut sample is rejected first: a partial object may still parse."""
    if sample.finish_reason == "length":
        return None, LENGTH_CUT
    if sample.truncated:
        return None, NEVER_CLOSED
    return parse_generated(sample.answer, seed_question)


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
        fields = [TextField(self.question_field)]
        if "answer" in placeholders(self.template):
            fields.append(TextField(self.answer_field, numbers=True))
        positions, seeds, rejects = usable_rows(batch, self.id_field, fields)
        prompts = [
            fill(
                self.template,
                {"question": s[self.question_field], "answer": s.get(self.answer_field, "")},
                "generation prompt",
            )
            for s in seeds
        ]
        conversations = [[{"role": "user", "content": p}] for p in prompts]
        completions = self.engine.generate(conversations, self.sampling) if conversations else []
        records, quarantine, counts = [], [], Counter(seeds=len(batch))
        if rejects:
            counts["seed rows unusable (bad input)"] += len(rejects)
        for pos, seed, completion in zip(positions, seeds, completions, strict=True):
            index, location, seed_id = int(batch.indices[pos]), batch.location(pos), seed[self.id_field]
            for warning in completion.warnings:
                counts[f"engine warning: {warning}"] += 1
            if completion.refused:
                counts["seeds refused (prompt never sent)"] += 1
                quarantine.append(
                    Reject(index, location, completion.refused, {"seed_id": seed_id, "sample": None, "text": None})
                )
                continue
            for k, sample in enumerate(completion.samples):
                counts["generated"] += 1
                parsed, why = parse_sample(sample, seed[self.question_field])
                if why:
                    counts[f"rejected: {why}"] += 1
                    quarantine.append(
                        Reject(index, location, why, {"seed_id": seed_id, "sample": k, "text": sample.text})
                    )
                    continue
                counts["kept"] += 1
                records.append(
                    {
                        "id": f"{seed_id}-gen{k}",
                        "seed_id": seed_id,
                        **parsed,
                        "reasoning": sample.reasoning,
                        "seed_question": seed[self.question_field],
                        "generation": {**self.provenance, "sample": k, "finish_reason": sample.finish_reason},
                    }
                )
        return StageResult(records, rejects, counts, quarantine)
