"""Solve-and-judge filtering: k solutions per problem, math-verify first, LLM judges second.

Correctness is never a substring match. A candidate's final answer is checked with math-verify
against the gold ``expected_answer`` (not against a reference solution). When math-verify cannot
parse the candidate (or with ``judge="always"``), each judge reads the question, the gold answer
and the candidate at temperature 0 and must end with ``VERDICT: yes`` or ``VERDICT: no``; anything
else is recorded as unparseable or truncated, never as yes or no. With several judges a candidate
is correct when at least ``min_votes`` say yes. math-verify uses ``signal.alarm``, so this runs in
the main thread.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sftkit.answers import verify_answer
from sftkit.data.batch import Batch
from sftkit.engines.base import Engine, Sampling
from sftkit.prompts import fill
from sftkit.stage import StageResult

SOLVE_PROMPT = "Solve the problem. Put the final answer in \\boxed{}.\n\n{{question}}"
JUDGE_PROMPT = """You are checking whether a candidate answer to a math problem is correct.

Problem: {{question}}

Gold answer: {{gold}}

Candidate answer: {{candidate}}

Is the candidate's final answer equivalent to the gold answer? Think briefly, then end with a last
line that is exactly "VERDICT: yes" or "VERDICT: no"."""

_VERDICT = re.compile(r"^\s*\**\s*VERDICT\s*:\s*(yes|no)\s*\**\s*\.?\s*$", re.IGNORECASE)


def parse_verdict(text: str, finish_reason: str | None = None) -> str:
    """'yes' or 'no' from the last non-empty line only; else 'truncated' (hit the token limit) or 'unparseable'."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    match = _VERDICT.match(lines[-1]) if lines else None
    if match:
        return match.group(1).lower()
    return "truncated" if finish_reason == "length" else "unparseable"


def decide(verdicts: list[str], min_votes: int) -> bool | None:
    """Correct with at least ``min_votes`` yes; None when no judge gave a usable verdict."""
    usable = [v for v in verdicts if v in ("yes", "no")]
    if not usable:
        return None
    return verdicts.count("yes") >= min_votes


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
        needed = [self.question_field, self.answer_field] + ([self.candidate_field] if self.candidate_field else [])
        batch.require(needed)
        rows = batch.records(self.id_field)
        candidates = self._candidates(rows)
        checks = [[{"answer": c, "verified": verify_answer(str(r[self.answer_field]), c)} for c in cands]
                  for r, cands in zip(rows, candidates)]
        self._judge(rows, checks)
        counts: Counter = Counter(rows=len(rows))
        out = []
        for row, row_checks in zip(rows, checks):
            for check in row_checks:
                check["correct"] = self._correct(check)
                counts[f"candidates {'undecided' if check['correct'] is None else check['correct']}"] += 1
            n_correct = sum(1 for c in row_checks if c["correct"])
            rate = n_correct / len(row_checks) if row_checks else 0.0
            kept = self.min_pass_rate <= rate <= self.max_pass_rate
            counts["kept" if kept else "dropped by pass rate"] += 1
            out.append({**row, "samples": row_checks, "n_samples": len(row_checks), "n_correct": n_correct,
                        "pass_rate": rate, "kept": kept, "filter": self.provenance})
        return StageResult(out, counts=counts)

    def _candidates(self, rows: list[dict[str, Any]]) -> list[list[str]]:
        if self.solver is None:
            values = [r.get(self.candidate_field) for r in rows]
            return [[str(x) for x in v] if isinstance(v, list) else [str(v)] for v in values]
        conversations = [[{"role": "user", "content": fill(self.solve_prompt, {"question": r[self.question_field]},
                                                            "solve prompt")}] for r in rows]
        completions = self.solver.generate(conversations, self.solve_sampling)
        return [[s.answer for s in c.samples] for c in completions]

    def _judge(self, rows: list[dict[str, Any]], checks: list[list[dict[str, Any]]]) -> None:
        if self.judge_mode == "never" or not self.judges:
            return
        todo = [(i, j) for i, row_checks in enumerate(checks) for j, c in enumerate(row_checks)
                if self.judge_mode == "always" or c["verified"] is None]
        if not todo:
            return
        conversations = [[{"role": "user", "content": fill(self.judge_prompt, {
            "question": rows[i][self.question_field], "gold": rows[i][self.answer_field],
            "candidate": checks[i][j]["answer"]}, "judge prompt")}] for i, j in todo]
        for judge in self.judges:
            for (i, j), completion in zip(todo, judge.generate(conversations, self.judge_sampling)):
                sample = completion.samples[0]
                checks[i][j].setdefault("verdicts", []).append(
                    {"judge": judge.model, "verdict": parse_verdict(sample.answer, sample.finish_reason)})

    def _correct(self, check: dict[str, Any]) -> bool | None:
        if "verdicts" in check and (self.judge_mode == "always" or check["verified"] is None):
            return decide([v["verdict"] for v in check["verdicts"]], self.min_votes)
        return check["verified"]
