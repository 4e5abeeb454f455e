"""Is a model's answer right? math-verify first, a normalized exact match for answers it cannot parse.

Never a substring test: "7" is not a correct answer to "17". math-verify uses ``signal.alarm``, so
call these in the main thread (or in worker processes), never in threads.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\boxed\s*\{")
_SPACE = re.compile(r"\s+")


def verify_answer(gold: str, candidate: str) -> bool | None:
    """math-verify's verdict; None when either side has no parseable answer."""
    from math_verify import parse, verify

    gold_parsed = parse(gold if ("$" in gold or "\\boxed" in gold) else f"${gold}$")
    candidate_parsed = parse(candidate)
    if not gold_parsed or not candidate_parsed:
        return None
    return bool(verify(gold_parsed, candidate_parsed))


def final_answer(text: str) -> str:
    """The content of the last ``\\boxed{...}`` (braces balanced), else the last non-empty line."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if starts:
        depth, begin = 1, starts[-1]
        for k in range(begin, len(text)):
            depth += {"{": 1, "}": -1}.get(text[k], 0)
            if depth == 0:
                return text[begin:k]
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize(answer: str) -> str:
    """Case, surrounding $ and spaces, a trailing period, and "The answer is" do not matter."""
    text = _SPACE.sub(" ", answer).strip().lower().removeprefix("the answer is").strip().removeprefix(":")
    return text.strip().rstrip(".").strip().strip("$").strip()


def is_correct(gold: str, candidate: str) -> bool:
    """math-verify where it parses both sides; otherwise the normalized final answers must be equal."""
    verdict = verify_answer(gold, candidate)
    if verdict is not None:
        return verdict
    return normalize(final_answer(gold)) == normalize(final_answer(candidate)) != ""
