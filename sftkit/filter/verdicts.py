"""The filter's prompts and how a judge's answer becomes a vote, and votes a decision."""

from __future__ import annotations

import re

from sftkit.engines.base import Sample

SOLVE_PROMPT = "Solve the problem. Put the final answer in \\boxed{}.\n\n{{question}}"
JUDGE_PROMPT = """You are checking whether a candidate answer to a math problem is correct.

Problem: {{question}}

Gold answer: {{gold}}

Candidate answer: {{candidate}}

Is the candidate's final answer equivalent to the gold answer? Think briefly, then end with a last
line that is exactly "VERDICT: yes" or "VERDICT: no"."""

_VERDICT = re.compile(r"^VERDICT\s*:\s*(yes|no)\b\s*(\([^()]*\))?\s*[.!]*$", re.IGNORECASE)
_MARKUP = re.compile(r"[*_#`>~=-]+")
_NEGATION = re.compile(
    r"\b(not|no|never|incorrect|wrong|differ\w*|different|mismatch\w*|unequal|inequivalent)\b|n't", re.IGNORECASE
)


def parse_verdict(sample: Sample) -> str:
    """'yes' or 'no' from the last line with words of the judge's answer only (Markdown emphasis,
    fences and rules ignored; a closing parenthesis or '!' allowed, unless the parenthesis negates a
    yes); else 'truncated' (no final answer) or 'unparseable'."""
    if sample.truncated:
        return "truncated"
    lines = [line for line in (_MARKUP.sub("", raw).strip() for raw in sample.answer.splitlines()) if line]
    match = _VERDICT.match(lines[-1]) if lines else None
    if match is None:
        return "unparseable"
    verdict = match.group(1).lower()
    if verdict == "yes" and _NEGATION.search(match.group(2) or ""):
        return "unparseable"  # "VERDICT: yes (not equivalent)" says both
    return verdict


def decide(verdicts: list[str], min_votes: int) -> bool | None:
    """True with ``min_votes`` yes; False when that many yes cannot be reached even if every unusable
    vote (unparseable, truncated, refused) had been a yes; None (undecided) otherwise."""
    yes, no = verdicts.count("yes"), verdicts.count("no")
    if yes >= min_votes:
        return True
    if len(verdicts) - no < min_votes:
        return False
    return None
