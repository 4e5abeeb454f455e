"""The difficulty passes' per-row field checks (truncated samples, refused and too long prompts are
replayed through the real engine in tests/stages/test_realistic.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sftkit.data.batch import Batch
from sftkit.difficulty.passes import valid_pairs

pytestmark = pytest.mark.unit


def batch_of(rows: list[dict]) -> Batch:
    return Batch(0, len(rows), "q.jsonl", 0, np.arange(len(rows)), rows=rows, lines=list(range(1, len(rows) + 1)))


ROWS = [
    {"problem": "What is 3 + 4?", "answer": 7},  # a number as the gold answer is its text
    {"problem": "What is the sum of all the integers from one to one hundred?", "answer": "5050"},
    {"problem": "What is 2 + 2?", "answer": "4"},
    {"problem": ["nested"], "answer": "1"},
    {"problem": 12, "answer": "12"},
    {"problem": "What is 1 + 1?", "answer": None},
    {"problem": "What is 5 + 5?"},
]


def test_rows_with_unusable_fields_are_rejects_named_by_field() -> None:
    pairs, rejects = valid_pairs(batch_of(ROWS), "id", "problem", "answer")
    assert [(p.row, p.question, p.answer) for p in pairs] == [
        (0, "What is 3 + 4?", "7"),
        (1, ROWS[1]["problem"], "5050"),
        (2, "What is 2 + 2?", "4"),
    ]
    reasons = [r.reason for r in rejects]
    assert reasons == [
        "field 'problem' is a list, not text",
        "field 'problem' is a number (12), not text",
        "field 'answer' is null",
        "field 'answer' is missing (the row has: problem, id)",
    ]
    assert [r.location for r in rejects] == ["q.jsonl:4", "q.jsonl:5", "q.jsonl:6", "q.jsonl:7"]
    # a field no row of this chunk has is still a per-row reject: chunking must not decide a row's fate
    pairs, rejects = valid_pairs(batch_of(ROWS[:1]), "id", "problem", "solution")
    assert pairs == [] and rejects[0].reason.startswith("field 'solution' is missing (the row has: problem, answer")
