"""Solve-and-judge filtering: k solutions per problem, math-verify first, LLM judges second.

Correctness is never a substring match. A candidate's final answer is checked with math-verify
against the gold ``expected_answer`` (not against a reference solution). A candidate cut at the token
limit, or whose ``<think>`` never closed, has no final answer: it is incorrect and recorded as
truncated, and no judge sees it. When math-verify cannot parse the candidate (or with
``judge="always"``), each judge reads the question, the gold answer and the candidate at temperature
0 and must end with ``VERDICT: yes`` or ``VERDICT: no``; anything else is recorded as unparseable,
truncated or refused, never as yes or no. With several judges a candidate is correct once
``min_votes`` say yes, incorrect once that many can no longer be reached even if every unusable vote
had been a yes, and undecided otherwise. The pass rate is correct / decided candidates; a row with
no decided candidate has ``pass_rate: null`` and is never kept. math-verify uses ``signal.alarm``,
so this runs in the main thread.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sftkit.answers import verify_answer
from sftkit.data.batch import Batch
from sftkit.data.errors import Reject
from sftkit.data.fields import TextField, usable_rows
from sftkit.engines.base import Completion, Engine, Sample, Sampling
from sftkit.prompts import fill
from sftkit.stage import StageResult

SOLVE_PROMPT = "Solve the problem. Put the final answer in \\boxed{}.\n\n{{question}}"
JUDGE_PROMPT = """You are checking whether a candidate answer to a math problem is correct.

Problem: {{question}}

Gold answer: {{gold}}

Candidate answer: {{candidate}}

Is the candidate's final answer equivalent to the gold answer? Think briefly, then end with a last
line that is exactly "VERDICT: yes" or "VERDICT: no"."""

_VERDICT = re.compile(r"^VERDICT\s*:\s*(yes|no)\b\s*(\([^()]*\))?\s*[.!]*$", re.IGNORECASE)
_MARKUP = re.compile(r"[*_#`>~=-]+")


def parse_verdict(sample: Sample) -> str:
    """'yes' or 'no' from the last line with words of the judge's answer only (Markdown emphasis,
    fences and rules ignored; a closing parenthesis or '!' allowed); else 'truncated' (no final
    answer) or 'unparseable'."""
    if sample.truncated:
        return "truncated"
    lines = [line for line in (_MARKUP.sub("", raw).strip() for raw in sample.answer.splitlines()) if line]
    match = _VERDICT.match(lines[-1]) if lines else None
    return match.group(1).lower() if match else "unparseable"


def decide(verdicts: list[str], min_votes: int) -> bool | None:
    """True with ``min_votes`` yes; False when that many yes cannot be reached even if every unusable
    vote (unparseable, truncated, refused) had been a yes; None (undecided) otherwise."""
    yes, no = verdicts.count("yes"), verdicts.count("no")
    if yes >= min_votes:
        return True
    if len(verdicts) - no < min_votes:
        return False
    return None


@dataclass
class SolveAndJudge:
    solver: Engine | None  # None: judge existing candidates only
    judges: list[Engine]
    solve_sampling: Sampling
    judge_sampling: Sampling
    question_field: str
    answer_field: str
    id_field: str
    judge_mode: str  # fallback | always | never
    min_votes: int
    min_pass_rate: float
    max_pass_rate: float
    solve_prompt: str = SOLVE_PROMPT
    judge_prompt: str = JUDGE_PROMPT
    candidate_field: str | None = None
    provenance: dict[str, Any] | None = None

    def __call__(self, batch: Batch) -> StageResult:
        fields = [TextField(self.question_field), TextField(self.answer_field, numbers=True)]
        if self.candidate_field:
            fields.append(TextField(self.candidate_field, many=True))
        positions, rows, rejects = usable_rows(batch, self.id_field, fields)
        counts: Counter = Counter(rows=len(rows))
        samples, refused = self._samples(rows)
        quarantine = [Reject(int(batch.indices[positions[i]]), batch.location(positions[i]), why, rows[i])
                      for i, why in refused.items()]
        counts.update({"rows refused by the solver (prompt over the context)": len(refused)})
        rows = [r for i, r in enumerate(rows) if i not in refused]
        samples = [s for i, s in enumerate(samples) if i not in refused]
        checks = [[self._check(row, sample) for sample in row_samples] for row, row_samples in zip(rows, samples)]
        self._judge(rows, checks)
        solver = self.solver.model if self.solver else self.candidate_field
        out = []
        for row, row_checks in zip(rows, checks):
            for check in row_checks:
                check["correct"] = self._correct(check)
                counts[f"candidates {'undecided' if check['correct'] is None else check['correct']}"] += 1
                counts[f"samples truncated (no final answer): {solver}"] += check["truncated"]
            decided = [c["correct"] for c in row_checks if c["correct"] is not None]
            rate = sum(decided) / len(decided) if decided else None
            kept = rate is not None and self.min_pass_rate <= rate <= self.max_pass_rate
            counts["kept" if kept else "undecided (no decided candidate)" if rate is None
                   else "dropped by pass rate"] += 1
            out.append({**row, "samples": row_checks, "n_samples": len(row_checks), "n_decided": len(decided),
                        "n_correct": sum(decided), "pass_rate": rate, "kept": kept, "filter": self.provenance})
        return StageResult(out, rejects, counts, quarantine)

    def _samples(self, rows: list[dict[str, Any]]) -> tuple[list[list[Sample]], dict[int, str]]:
        """Each row's candidate samples, and the rows whose solve prompt was refused (never sent)."""
        if self.solver is None:
            values = [r[self.candidate_field] for r in rows]
            return [[Sample.from_text(v) for v in (value if isinstance(value, list) else [value])]
                    for value in values], {}
        conversations = [[{"role": "user", "content": fill(self.solve_prompt, {"question": r[self.question_field]},
                                                            "solve prompt")}] for r in rows]
        completions = self.solver.generate(conversations, self.solve_sampling)
        return [c.samples for c in completions], {i: c.refused for i, c in enumerate(completions) if c.refused}

    def _check(self, row: dict[str, Any], sample: Sample) -> dict[str, Any]:
        """A candidate's record; a truncated or empty one is wrong without asking math-verify or a judge."""
        unanswered = sample.truncated or not sample.answer.strip()
        verified = False if unanswered else verify_answer(row[self.answer_field], sample.answer)
        return {"answer": sample.answer, "verified": verified, "truncated": sample.truncated,
                "finish_reason": sample.finish_reason}

    def _judge(self, rows: list[dict[str, Any]], checks: list[list[dict[str, Any]]]) -> None:
        if self.judge_mode == "never" or not self.judges:
            return
        todo = [(i, j) for i, row_checks in enumerate(checks) for j, c in enumerate(row_checks)
                if not c["truncated"] and c["answer"].strip()  # an empty answer is wrong, never judged
                and (self.judge_mode == "always" or c["verified"] is None)]
        if not todo:
            return
        conversations = [[{"role": "user", "content": fill(self.judge_prompt, {
            "question": rows[i][self.question_field], "gold": rows[i][self.answer_field],
            "candidate": checks[i][j]["answer"]}, "judge prompt")}] for i, j in todo]
        for judge in self.judges:
            for (i, j), completion in zip(todo, judge.generate(conversations, self.judge_sampling)):
                checks[i][j].setdefault("verdicts", []).append({"judge": judge.model, **_verdict(completion)})

    def _correct(self, check: dict[str, Any]) -> bool | None:
        if "verdicts" in check:
            return decide([v["verdict"] for v in check["verdicts"]], self.min_votes)
        return check["verified"]


def _verdict(completion: Completion) -> dict[str, Any]:
    if completion.refused:
        return {"verdict": "refused", "why": completion.refused}
    return {"verdict": parse_verdict(completion.samples[0])}
