"""The seed preset of the generate stage: new problems from seed problems (the predecessor's generateFromSeed.py).

It is the general stage (``generator.Generator``) with these defaults: the prompt below, whose
``{{question}}`` and ``{{answer}}`` stand for ``--question-field`` and ``--answer-field``; parsing by
``tags:question,answer`` (a JSON object with those keys is accepted instead); the seed's id and question
carried as ``seed_id`` and ``seed_question``; and a copy of the seed problem rejected. Seed rows whose
question (or, when the prompt uses ``{{answer}}``, answer) is not usable text are bad input rows, left
to ``--on-bad-record``.
"""

from __future__ import annotations

from typing import Any

from sftkit.data.fields import TextField
from sftkit.engines.base import Engine, Sample, Sampling
from sftkit.generate.generator import Counting, Generator, ItemRules
from sftkit.generate.parse import ParseSpec, check_item, raw_items
from sftkit.prompts import placeholders

DEFAULT_PROMPT = """Here is a seed math problem and its answer.

Problem: {{question}}
Answer: {{answer}}

Write one new problem that is different from the seed but uses a related idea, and solve it.
Reply with the new problem between <question> and </question>, then only its final answer between <answer> and
</answer>. Write math as usual (LaTeX is fine): nothing inside the tags is escaped."""

SEED_PARSE = ParseSpec("tags", ("question", "answer"))
SEED_COUNTING = Counting(
    rows="seeds",
    unusable="seed rows unusable (bad input)",
    refused="seeds refused (prompt never sent)",
    parent_key="seed_id",
)


def preset(template: str, question_field: str, answer_field: str, id_field: str) -> dict[str, Any]:
    """The Generator settings the preset gives (module docstring), given its prompt and field flags."""
    fields = [TextField(question_field)]
    if "answer" in placeholders(template):
        fields.append(TextField(answer_field, numbers=True))
    return {
        "spec": SEED_PARSE,
        "aliases": {"question": question_field, "answer": answer_field},
        "fields": fields,
        "carry": {id_field: "seed_id", question_field: "seed_question"},
        "rules": ItemRules(copy_of={question_field: "seed problem"}),
        "counting": SEED_COUNTING,
    }


def SeedGenerator(  # the preset keeps the name and call of the class it replaced
    engine: Engine,
    sampling: Sampling,
    template: str,
    question_field: str,
    answer_field: str,
    id_field: str,
    provenance: dict[str, Any],
) -> Generator:
    """The general step with the seed preset's settings."""
    settings = preset(template, question_field, answer_field, id_field)
    return Generator(engine, sampling, template, id_field=id_field, provenance=provenance, **settings)


def parse_generated(text: str, seed_question: str) -> tuple[dict[str, str] | None, str | None]:
    """({question, answer}, None), or (None, why it is rejected): the preset's parsing of one completion."""
    if not text.strip():
        return None, "empty generation"
    items, _ = raw_items(text, SEED_PARSE)  # tags always give one item (or why not)
    item, why = items[0]
    if item is not None:
        item, why = check_item(item, SEED_PARSE)
    if item is not None:
        why = ItemRules(copy_of={"q": "seed problem"}).problem(item, SEED_PARSE, {"q": seed_question})
    return (None, why) if why else (item, None)


def parse_sample(sample: Sample, seed_question: str) -> tuple[dict[str, str] | None, str | None]:
    """As ``parse_generated``, but a cut sample is rejected first: a partial object may still parse."""
    why = Generator.sample_problem(sample)
    return (None, why) if why else parse_generated(sample.answer, seed_question)
