"""Verdicts, votes and answers: the judge's reply parsed strictly, votes that decide, math-verify equivalence."""

import pytest

from sftkit.answers import final_answer, is_correct, normalize, verify_answer
from sftkit.engines.base import Sample
from sftkit.filter.verdicts import decide, parse_verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "finish", "expected"),
    [
        ("Same value.\nVERDICT: yes", "stop", "yes"),
        ("They differ.\n\nverdict: No.", "stop", "no"),
        ("**VERDICT: YES**", "stop", "yes"),
        ("The values agree.\n\n**VERDICT:** yes", "stop", "yes"),
        ("## Verdict: no", "stop", "no"),
        ("VERDICT: yes\nActually, wait, no.", "stop", "unparseable"),  # only the last line counts
        ("The answer looks right", "stop", "unparseable"),
        ("Let me check the candidate carefully and", "length", "truncated"),
        ("VERDICT: yes", "length", "truncated"),  # cut at the limit: no final answer, whatever it says
        ("<think>\nThe candidate says 7, the gold is 7, so VERDICT: yes", "stop", "truncated"),  # never closed
        ("<think>\nSame.\n</think>\n\nVERDICT: yes", "stop", "yes"),
        ("Same day.\n\nVERDICT: yes\n```", "stop", "yes"),  # a closing fence is not the last line
        ("Same day.\n\n---\nVERDICT: Yes!", "stop", "yes"),
        ("VERDICT: yes (equivalent forms)", "stop", "yes"),
        ("VERDICT: yes (not equivalent)", "stop", "unparseable"),  # says both
        ("VERDICT: Yes (they don't match)", "stop", "unparseable"),
        ("VERDICT: no (not equivalent)", "stop", "no"),
        ("VERDICT: yes, but only if x > 0", "stop", "unparseable"),
        ("", "stop", "unparseable"),
    ],
)
def test_verdicts_are_parsed_strictly(text: str, finish: str, expected: str) -> None:
    assert parse_verdict(Sample.from_text(text, finish_reason=finish)) == expected


def test_unusable_votes_are_neither_yes_nor_no() -> None:
    assert decide(["yes", "no", "yes"], 2) is True
    assert decide(["no", "no", "unparseable"], 2) is False  # 2 yes are out of reach
    assert decide(["yes", "no", "unparseable"], 2) is None  # the third vote would have decided
    assert decide(["yes", "unparseable", "truncated"], 2) is None
    assert decide(["unparseable"], 1) is None and decide(["no"], 1) is False
    assert decide(["unparseable", "truncated"], 1) is None


def test_numbers_as_gold_answers_become_the_text_a_person_writes() -> None:
    from sftkit.data.fields import number_text

    assert [number_text(x) for x in (7, 7.0, 0.25, 1e-05, 1e16)] == ["7", "7", "0.25", "0.00001", "10000000000000000"]
    assert number_text(1e23) == "1" + "0" * 23  # the digits written, not the binary expansion 99999999999999991611392
    assert verify_answer(number_text(1e-05), "\\boxed{0.00001}") is True  # "1e-05" parses as E - 5


def test_math_verify_decides_equivalence_not_substrings() -> None:
    assert verify_answer("7", "The answer is \\boxed{7}.") is True
    assert verify_answer("7", "so \\boxed{\\frac{14}{2}}") is True
    assert verify_answer("7", "The answer is \\boxed{17}") is False  # '7' is a substring of '17'
    assert verify_answer("\\frac{1}{2}", "\\boxed{0.5}") is True
    assert verify_answer("7", "I do not know") is None


def test_answers_are_checked_by_math_verify_then_by_normalized_exact_match() -> None:
    assert is_correct("7", "so the answer is \\boxed{7}.") and not is_correct("7", "\\boxed{17}")
    assert is_correct("\\frac{1}{2}", "\\boxed{0.5}")
    assert is_correct("Paris", "The answer is Paris.") and not is_correct("Paris", "London")
    assert final_answer("x \\boxed{\\frac{1}{2}} y") == "\\frac{1}{2}" and normalize(" The answer is: $B$. ") == "b"
    assert not is_correct("A", "")
