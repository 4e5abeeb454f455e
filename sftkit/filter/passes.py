"""The filter's passes: solver candidates, judge verdicts, and the join that counts the votes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sftkit.answers import verify_answer
from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, usable_rows
from sftkit.engines.base import Completion, Engine, Sample, Sampling
from sftkit.errors import Reject
from sftkit.filter.verdicts import JUDGE_PROMPT, SOLVE_PROMPT, decide, parse_verdict
from sftkit.prompts import fill
from sftkit.report import pass_rate_bin
from sftkit.runner.passes import PassRecords
from sftkit.runner.stage import StageResult


@dataclass
class Fields:
    """The fields every pass of the filter reads; each pass rejects the same bad rows."""

    id_field: str
    question_field: str
    answer_field: str
    candidate_field: str | None = None  # judge-only: existing answers instead of a solver

    def usable(self, batch: Batch) -> tuple[list[int], list[int], list[dict[str, Any]], list[Reject]]:
        """Positions, global row numbers and records of the usable rows, and the rejects."""
        fields = [TextField(self.question_field), TextField(self.answer_field, numbers=True)]
        if self.candidate_field:
            fields.append(TextField(self.candidate_field, many=True))
        positions, rows, rejects = usable_rows(batch, self.id_field, fields)
        return positions, [int(batch.indices[p]) for p in positions], rows, rejects


@dataclass
class CandidatesPass:
    """Pass 1: every row's candidates, checked by math-verify: the solver's samples (the solver is
    loaded on first use), or with no solver the answers in ``candidate_field``. A row whose solve
    prompt the engine refused is recorded as refused."""

    fields: Fields
    solver: Callable[[], Engine] | None
    sampling: Sampling
    prompt: str = SOLVE_PROMPT

    def __call__(self, batch: Batch) -> StageResult:
        _, numbers, rows, rejects = self.fields.usable(batch)
        samples, refused = self._samples(rows)
        records = [
            {"row": n, "refused": refused[i]}
            if i in refused
            else {"row": n, "samples": [self._check(row, s) for s in samples[i]]}
            for i, (n, row) in enumerate(zip(numbers, rows))
        ]
        counts = Counter({"rows": len(rows), "rows refused (prompt over the context)": len(refused)})
        return StageResult(records, rejects, counts)

    def _samples(self, rows: list[dict[str, Any]]) -> tuple[list[list[Sample]], dict[int, str]]:
        """Each row's candidate samples, and the rows whose solve prompt was refused (never sent)."""
        if self.solver is None:
            values = [r[self.fields.candidate_field] for r in rows]
            return [
                [Sample.from_text(v) for v in (value if isinstance(value, list) else [value])] for value in values
            ], {}
        if not rows:
            return [], {}
        conversations = [
            [
                {
                    "role": "user",
                    "content": fill(self.prompt, {"question": r[self.fields.question_field]}, "solve prompt"),
                }
            ]
            for r in rows
        ]
        completions = self.solver().generate(conversations, self.sampling)
        return [c.samples for c in completions], {i: c.refused for i, c in enumerate(completions) if c.refused}

    def _check(self, row: dict[str, Any], sample: Sample) -> dict[str, Any]:
        """A candidate's record; a truncated or empty one is wrong without asking math-verify or a judge."""
        unanswered = sample.truncated or not sample.answer.strip()
        verified = False if unanswered else verify_answer(row[self.fields.answer_field], sample.answer)
        return {
            "answer": sample.answer,
            "reasoning": sample.reasoning,  # the <think> block: the export's DPO pairs train on it with the answer
            "verified": verified,
            "truncated": sample.truncated,
            "finish_reason": sample.finish_reason,
        }


@dataclass
class JudgePass:
    """A pass per judge: its verdict on each candidate that needs one (every answered candidate with
    ``mode="always"``, those math-verify could not parse with ``"fallback"``), read from pass 1's
    finished records. The judge is loaded on first use: a shard whose candidates all parse never loads it."""

    fields: Fields
    judge: Callable[[], Engine]
    model: str
    candidates: PassRecords
    sampling: Sampling
    mode: str  # fallback | always
    prompt: str = JUDGE_PROMPT

    def __call__(self, batch: Batch) -> StageResult:
        _, numbers, rows, rejects = self.fields.usable(batch)
        found = self.candidates.between(batch.start, batch.stop)
        todo = [
            (n, row, j, check["answer"])
            for n, row in zip(numbers, rows)
            for j, check in enumerate(found[n].get("samples", []))
            if not check["truncated"]
            and check["answer"].strip()  # an empty answer is wrong, never judged
            and (self.mode == "always" or check["verified"] is None)
        ]
        counts: Counter = Counter(rows=len(rows))
        if not todo:
            return StageResult([], rejects, counts)
        conversations = [
            [
                {
                    "role": "user",
                    "content": fill(
                        self.prompt,
                        {
                            "question": row[self.fields.question_field],
                            "gold": row[self.fields.answer_field],
                            "candidate": answer,
                        },
                        "judge prompt",
                    ),
                }
            ]
            for _, row, _, answer in todo
        ]
        verdicts: dict[int, list[dict[str, Any] | None]] = {}
        for (n, _, j, _), completion in zip(todo, self.judge().generate(conversations, self.sampling)):
            verdict = {"judge": self.model, **_verdict(completion)}
            verdicts.setdefault(n, [None] * len(found[n]["samples"]))[j] = verdict
            counts[f"verdicts {verdict['verdict']}"] += 1
        return StageResult([{"row": n, "verdicts": v} for n, v in verdicts.items()], rejects, counts)


@dataclass
class FilterJoin:
    """The filter's output rows: pass 1's candidates with every judge's verdicts, votes counted, the
    pass rate and whether the row is kept. Rows the solver refused are quarantined with the reason."""

    fields: Fields
    candidates: PassRecords
    judges: list[PassRecords]  # in judge order: the order of each candidate's verdicts
    min_votes: int
    min_pass_rate: float
    max_pass_rate: float
    solver: str  # the solver's model, or the candidate field, for the truncation count
    provenance: dict[str, Any] | None = None

    def __call__(self, batch: Batch) -> StageResult:
        positions, numbers, rows, rejects = self.fields.usable(batch)
        found = self.candidates.between(batch.start, batch.stop)
        verdicts = [judge.between(batch.start, batch.stop) for judge in self.judges]
        counts: Counter = Counter(rows=len(rows))
        out, quarantine = [], []
        for pos, n, row in zip(positions, numbers, rows):
            if "refused" in found[n]:
                quarantine.append(Reject(n, batch.location(pos), found[n]["refused"], row))
                continue
            checks = found[n]["samples"]
            for by_row in verdicts:
                for check, verdict in zip(checks, by_row.get(n, {}).get("verdicts", [])):
                    if verdict is not None:
                        check.setdefault("verdicts", []).append(verdict)
            for check in checks:
                check["correct"] = self._correct(check)
                verdict = {True: "correct", False: "incorrect", None: "undecided"}[check["correct"]]
                counts[f"candidates {verdict}"] += 1
                counts[f"samples truncated (no final answer): {self.solver}"] += check["truncated"]
            decided = [c["correct"] for c in checks if c["correct"] is not None]
            rate = sum(decided) / len(decided) if decided else None
            kept = rate is not None and self.min_pass_rate <= rate <= self.max_pass_rate
            if rate is not None:
                counts[pass_rate_bin(rate)] += 1  # every decided row, kept or not: the merge plots them
            counts[
                "kept" if kept else "undecided (no decided candidate)" if rate is None else "dropped by pass rate"
            ] += 1
            out.append(
                {
                    **row,
                    "samples": checks,
                    "n_samples": len(checks),
                    "n_decided": len(decided),
                    "n_correct": sum(decided),
                    "pass_rate": rate,
                    "kept": kept,
                    "filter": self.provenance,
                }
            )
        counts.update({"rows refused by the solver (prompt over the context)": len(quarantine)})
        return StageResult(out, rejects, counts, quarantine)

    def _correct(self, check: dict[str, Any]) -> bool | None:
        if "verdicts" in check:
            return decide([v["verdict"] for v in check["verdicts"]], self.min_votes)
        return check["verified"]


def _verdict(completion: Completion) -> dict[str, Any]:
    if completion.refused:
        return {"verdict": "refused", "why": completion.refused}
    return {"verdict": parse_verdict(completion.samples[0])}
