"""The scorer's model passes over one shard, and the join of their results (see sftkit.runner.passes).

Each model is loaded once per shard and scores every row of it before the next model loads (the
predecessor reloaded every model for every 10k-row section).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sftkit.answers import is_correct
from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.data.shards import Shard
from sftkit.engines.base import Engine, Sampling
from sftkit.errors import Reject
from sftkit.prompts import fill
from sftkit.runner.passes import PassRecords
from sftkit.runner.stage import StageResult


@dataclass
class Pair:
    row: int
    question: str
    answer: str


def valid_pairs(batch: Batch, id_field: str, question_field: str, answer_field: str) -> tuple[list[Pair], list[Reject]]:
    """Rows whose question is non-empty text and whose answer is non-empty text or a number; the others
    are rejects naming the row and field (a list or a number as the question is never sent as text)."""
    positions, records, rejects = usable_rows(
        batch, id_field, [TextField(question_field), TextField(answer_field, numbers=True)]
    )
    pairs = [
        Pair(int(batch.indices[pos]), rec[question_field], rec[answer_field]) for pos, rec in zip(positions, records)
    ]
    return pairs, rejects


@dataclass
class LogprobPass:
    """avg_logprob, n_answer_tokens and truncated for each row, under the primary model."""

    scorer: Callable[[], Any]  # loads (or reuses) the scorer on first use only
    id_field: str
    question_field: str
    answer_field: str

    def __call__(self, batch: Batch) -> StageResult:
        pairs, rejects = valid_pairs(batch, self.id_field, self.question_field, self.answer_field)
        results = self.scorer().score([(p.question, p.answer) for p in pairs]) if pairs else []
        counts = Counter(
            rows=len(pairs),
            truncated=sum(r.truncated for r in results),
            **{"no answer tokens": sum(r.avg_logprob is None for r in results)},
        )
        return StageResult([{"row": p.row, **asdict(r)} for p, r in zip(pairs, results)], rejects, counts)


@dataclass
class EnsemblePass:
    """How many of ``sampling.n`` answers of one model are right, per row. Prompts longer than
    ``max_input_tokens``, and prompts the engine refused, are not answered (total 0, counted). A
    truncated sample (cut at the token limit, or inside an unclosed ``<think>``) has no final answer:
    it is wrong without being checked, and counted."""

    engine: Callable[[], Engine]
    sampling: Sampling
    prompt: str
    max_input_tokens: int
    id_field: str
    question_field: str
    answer_field: str

    def __call__(self, batch: Batch) -> StageResult:
        pairs, rejects = valid_pairs(batch, self.id_field, self.question_field, self.answer_field)
        counts: Counter = Counter(rows=len(pairs))
        if not pairs:
            return StageResult([], rejects, counts)
        engine = self.engine()
        conversations = [
            [{"role": "user", "content": fill(self.prompt, {"question": p.question}, "prompt")}] for p in pairs
        ]
        fits = [n <= self.max_input_tokens for n in engine.prompt_lengths(conversations)]
        sent = [c for c, ok in zip(conversations, fits) if ok]
        completions = iter(engine.generate(sent, self.sampling) if sent else [])
        records = []
        for pair, ok in zip(pairs, fits):
            completion = next(completions) if ok else None
            samples = completion.samples if completion is not None and completion.refused is None else None
            if samples is None:
                counts["prompts refused by the engine" if ok else "prompt over --max-input-length"] += 1
                records.append({"row": pair.row, "correct": 0, "total": 0})
                continue
            correct = sum(not s.truncated and is_correct(pair.answer, s.answer) for s in samples)
            counts.update(
                {
                    "samples": len(samples),
                    "correct": correct,
                    "samples truncated (no final answer)": sum(s.truncated for s in samples),
                }
            )
            records.append({"row": pair.row, "correct": correct, "total": len(samples)})
        return StageResult(records, rejects, counts)


@dataclass
class Join:
    """One responses line per row: id, question, answer, the log-probability fields and every
    model's [correct, total], read from this shard's pass parts."""

    output: str | Path
    shard: Shard
    logprob_pass: str
    ensemble_passes: dict[str, str]  # model -> pass name
    id_field: str
    question_field: str
    answer_field: str

    def __post_init__(self) -> None:
        self._passes = {
            name: PassRecords(self.output, name, self.shard)
            for name in (self.logprob_pass, *self.ensemble_passes.values())
        }

    def __call__(self, batch: Batch) -> StageResult:
        pairs, rejects = valid_pairs(batch, self.id_field, self.question_field, self.answer_field)
        valid = {p.row for p in pairs}
        results = {name: records.between(batch.start, batch.stop) for name, records in self._passes.items()}
        records = []
        for rec, row in zip(batch.records(self.id_field), batch.indices.tolist()):
            if row not in valid:
                continue
            lp = results[self.logprob_pass][row]
            responses = {}
            for model, name in self.ensemble_passes.items():
                hit = results[name][row]
                responses[model] = [hit["correct"], hit["total"]]
            records.append(
                {
                    "id": rec[self.id_field],
                    "question": rec[self.question_field],
                    "answer": rec[self.answer_field],
                    "avg_logprob": lp["avg_logprob"],
                    "n_answer_tokens": lp["n_answer_tokens"],
                    "truncated": lp["truncated"],
                    "responses": responses,
                }
            )
        return StageResult(records, rejects, Counter(items=len(records)))
