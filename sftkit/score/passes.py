"""The score stage's passes: token lengths, one pass per judge, and the join that aggregates the votes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.engines.base import Engine, Sampling
from sftkit.errors import Reject
from sftkit.prompts import fill
from sftkit.runner.passes import PassRecords
from sftkit.runner.stage import StageResult
from sftkit.score.aggregate import Votes, aggregate
from sftkit.score.parse import Judgement, judge
from sftkit.score.rubric import Rubric


@dataclass(frozen=True)
class Rows:
    """The fields every pass reads, so each pass rejects the same bad rows: the prompt's placeholders,
    and the question and answer when lengths are measured."""

    id_field: str
    fields: tuple[str, ...]

    def usable(self, batch: Batch) -> tuple[list[int], list[int], list[dict[str, Any]], list[Reject]]:
        """Positions, global row numbers and records of the usable rows, and the rejects."""
        positions, rows, rejects = usable_rows(batch, self.id_field, [TextField(f) for f in self.fields])
        return positions, [int(batch.indices[p]) for p in positions], rows, rejects


def conversation(row: dict[str, Any], question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": row[question]}, {"role": "assistant", "content": row[answer]}]


@dataclass
class LengthPass:
    """Tokens of each row's conversation (question, then answer) through the tokenizer's chat template:
    what a trainer will see. Rows over ``limit`` go to no judge."""

    rows: Rows
    tokenizer: Callable[[], Any]
    question: str
    answer: str
    limit: int

    def __call__(self, batch: Batch) -> StageResult:
        _, numbers, rows, rejects = self.rows.usable(batch)
        tok = self.tokenizer()
        texts = [tok.apply_chat_template(conversation(r, self.question, self.answer), tokenize=False) for r in rows]
        lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []
        over = sum(n > self.limit for n in lengths)
        return StageResult(
            [{"row": n, "tokens": t} for n, t in zip(numbers, lengths)],
            rejects,
            Counter({"rows": len(rows), f"over {self.limit:,} tokens": over}),
        )


def too_long(lengths: PassRecords | None, limit: int | None, start: int, stop: int) -> dict[int, int]:
    """Rows of [start, stop) whose conversation is over ``limit`` tokens, with their length."""
    if lengths is None or limit is None:
        return {}
    return {n: r["tokens"] for n, r in lengths.between(start, stop).items() if r["tokens"] > limit}


@dataclass
class JudgePass:
    """One judge's judgement of every usable row that is not too long, at temperature 0. The judge is loaded
    on first use: a shard whose rows are all too long never loads it."""

    rows: Rows
    rubric: Rubric
    judge: Callable[[], Engine]
    sampling: Sampling
    lengths: PassRecords | None = None
    limit: int | None = None

    def __call__(self, batch: Batch) -> StageResult:
        _, numbers, rows, rejects = self.rows.usable(batch)
        long = too_long(self.lengths, self.limit, batch.start, batch.stop)
        todo = [(n, row) for n, row in zip(numbers, rows) if n not in long]
        counts: Counter = Counter(rows=len(rows))
        if not todo:
            return StageResult([], rejects, counts)
        where, criteria = f"--rubric {self.rubric.path} prompt", self.rubric.criteria()
        conversations = [
            [{"role": "user", "content": fill(self.rubric.prompt, row, where) + "\n\n" + criteria}] for _, row in todo
        ]
        records = []
        for (n, _), completion in zip(todo, self.judge().generate(conversations, self.sampling)):
            found = judge(completion, self.rubric)
            counts["decided" if found.total is not None else f"undecided: {found.kind}"] += 1
            answer = completion.samples[0].answer if completion.samples else None
            records.append({"row": n, **found.to_json(), "answer": answer})
        return StageResult(records, rejects, counts)


@dataclass
class ScoreJoin:
    """The stage's rows: each judge's judgement aggregated. Kept rows are the output; rows too long,
    short of votes or decided by no judge go to the rejects with the reason and their scores."""

    rows: Rows
    judges: dict[str, PassRecords]  # judge name -> its pass, in judge order
    votes: Votes
    lengths: PassRecords | None = None
    limit: int | None = None

    def __call__(self, batch: Batch) -> StageResult:
        positions, numbers, rows, rejects = self.rows.usable(batch)
        long = too_long(self.lengths, self.limit, batch.start, batch.stop)
        found = {name: records.between(batch.start, batch.stop) for name, records in self.judges.items()}
        counts: Counter = Counter(rows=len(rows))
        out, quarantine = [], []
        for pos, n, row in zip(positions, numbers, rows):
            if n in long:
                counts["too long"] += 1
                why = f"conversation is {long[n]:,} tokens, over --max-length-tokens {self.limit:,}"
                quarantine.append(Reject(n, batch.location(pos), why, row))
                continue
            judgements = {name: Judgement.from_json(by_row[n]) for name, by_row in found.items()}
            for name, j in judgements.items():
                counts[f"judge {name}: " + ("decided" if j.total is not None else f"undecided ({j.kind})")] += 1
            fields, why = aggregate(judgements, self.votes)
            scored = {**row, **fields}
            if why is None:
                counts["kept"] += 1
                out.append(scored)
            else:
                counts["no judge decided" if not fields["score_decided"] else "too few votes"] += 1
                quarantine.append(Reject(n, batch.location(pos), why, scored))
        return StageResult(out, rejects, counts, quarantine)
