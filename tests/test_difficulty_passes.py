"""The difficulty scorer's ensemble pass with a scripted engine: truncated samples, refused and too
long prompts, and the per-row field checks, without loading any model."""

from __future__ import annotations

import numpy as np
import pytest

from sftkit.data.batch import Batch
from sftkit.data.errors import InputError
from sftkit.difficulty import passes
from sftkit.difficulty.passes import EnsemblePass, valid_pairs
from sftkit.engines.base import Completion, Conversation, Sample, Sampling

REPLIES = {
    "What is 3 + 4?": Completion([
        Sample.from_text("So \\boxed{7}."),
        Sample.from_text("<think>3 + 4 is \\boxed{7}, or is it"),  # never closed its <think>
        Sample("\\boxed{7}", None, "\\boxed{7}", finish_reason="length", truncated=True),  # cut, answer kept
    ]),
    "What is 2 + 2?": Completion([], refused="prompt longer than the model's context"),
}


class ScriptedEngine:
    """Prompt length is its character count; every sent prompt must have a scripted reply."""

    name, model = "scripted", "scripted-model"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def prompt_lengths(self, conversations: list[Conversation]) -> list[int]:
        return [len(c[0]["content"]) for c in conversations]

    def generate(self, conversations: list[Conversation], sampling: Sampling) -> list[Completion]:
        self.sent += [c[0]["content"] for c in conversations]
        return [REPLIES[c[0]["content"]] for c in conversations]


def batch_of(rows: list[dict]) -> Batch:
    return Batch(0, len(rows), "q.jsonl", 0, np.arange(len(rows)), rows=rows, lines=list(range(1, len(rows) + 1)))


ROWS = [
    {"problem": "What is 3 + 4?", "answer": 7},  # a number as the gold answer is its text
    {"problem": "What is the sum of all the integers from one to one hundred?", "answer": "5050"},  # too long
    {"problem": "What is 2 + 2?", "answer": "4"},  # refused by the engine
    {"problem": ["nested"], "answer": "1"},
    {"problem": 12, "answer": "12"},
    {"problem": "What is 1 + 1?", "answer": None},
    {"problem": "What is 5 + 5?"},
]


def test_truncated_samples_are_wrong_unchecked_and_unsent_prompts_count_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = []

    def recording_is_correct(gold: str, answer: str) -> bool:
        checked.append((gold, answer))
        return answer == "\\boxed{7}" or answer == "So \\boxed{7}."

    monkeypatch.setattr(passes, "is_correct", recording_is_correct)
    engine = ScriptedEngine()
    ensemble = EnsemblePass(lambda: engine, Sampling(n=3), "{{question}}", 40, "id", "problem", "answer")
    result = ensemble(batch_of(ROWS[:3]))
    assert engine.sent == ["What is 3 + 4?", "What is 2 + 2?"]
    assert result.records == [{"row": 0, "correct": 1, "total": 3}, {"row": 1, "correct": 0, "total": 0},
                              {"row": 2, "correct": 0, "total": 0}]
    assert checked == [("7", "So \\boxed{7}.")]  # the truncated samples never reach the answer check
    assert result.counts["samples truncated (no final answer)"] == 2 and result.counts["correct"] == 1
    assert result.counts["prompt over --max-input-length"] == 1
    assert result.counts["prompts refused by the engine"] == 1


def test_rows_with_unusable_fields_are_rejects_named_by_field() -> None:
    pairs, rejects = valid_pairs(batch_of(ROWS), "id", "problem", "answer")
    assert [(p.row, p.question, p.answer) for p in pairs] == [
        (0, "What is 3 + 4?", "7"), (1, ROWS[1]["problem"], "5050"), (2, "What is 2 + 2?", "4")]
    reasons = [r.reason for r in rejects]
    assert reasons == ["field 'problem' is a list, not text", "field 'problem' is a number (12), not text",
                       "field 'answer' is null", "field 'answer' is missing"]
    assert [r.location for r in rejects] == ["q.jsonl:4", "q.jsonl:5", "q.jsonl:6", "q.jsonl:7"]
    with pytest.raises(InputError, match="no field 'solution'"):  # a field no row has is a mapping mistake
        valid_pairs(batch_of(ROWS), "id", "problem", "solution")
