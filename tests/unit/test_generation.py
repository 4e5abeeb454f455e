"""Parsing generations: JSON with LaTeX kept byte-exact, tagged blocks, control characters, cut samples."""

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftkit.engines.base import Sample
from sftkit.generate.latex_json import LATEX_COMMANDS, extract_json_object, loads_keeping_latex
from sftkit.generate.seed import DEFAULT_PROMPT, parse_generated, parse_sample
from sftkit.prompts import fill

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"question": "q", "answer": "1"}', {"question": "q", "answer": "1"}),
        ('Sure!\n```json\n{"question": "q", "answer": "2"}\n```\nDone.', {"question": "q", "answer": "2"}),
        ('Reasoning first... so the result: {"question": "q", "answer": 3}', {"question": "q", "answer": 3}),
        ('{"a": {"question": "inner"}} then {"question": "last", "answer": "4"}', {"question": "last", "answer": "4"}),
        ("no json here {oops", None),
    ],
)
def test_json_is_extracted_from_fences_bare_text_or_a_trailing_object(text: str, expected: dict | None) -> None:
    assert extract_json_object(text) == expected


def test_bad_generations_get_a_reason() -> None:
    seed = "What is 3 + 4?"
    assert parse_generated("", seed) == (None, "empty generation")
    assert parse_generated("I cannot", seed)[1] == "no <question>/<answer> blocks and no JSON object in the generation"
    assert parse_generated("<question>What is 10 + 5?</question> <answer>15", seed)[1] == (
        "no complete <answer>…</answer> block and no JSON object"
    )
    assert parse_generated('{"question": "x"}', seed)[1] == "JSON object lacks a string 'question' and 'answer'"
    assert parse_generated('{"question": " ", "answer": "1"}', seed)[1] == "empty question or answer"
    assert parse_generated('{"question": "what is 3 +  4?", "answer": "7"}', seed)[1] == "copies its seed problem"
    assert parse_generated('{"question": "What is 10 + 5?", "answer": 15}', seed) == (
        {"question": "What is 10 + 5?", "answer": "15"},
        None,
    )


def test_prompt_placeholders_are_filled_once() -> None:
    tricky = 'What is {{answer}}? Use \\boxed{} and {"json": 1}.'
    text = fill(DEFAULT_PROMPT, {"question": tricky, "answer": "42"})
    assert tricky in text and "Answer: 42" in text  # the question's own {{answer}} is not replaced


LATEX = (
    r"Compute $\frac{1}{2} \times \binom{4}{2}$, then $\sqrt{2}$, $\left( x \right)$, $\int_0^1 x\,dx$, "
    r"$a \neq b$, $\nabla f$, $\tan\theta$ in \text{cm}. Give \boxed{3} as a check."
)


LATEX_JSON = '{"question": "' + LATEX.replace('"', '\\"') + r'", "answer": "\\frac{3}{2}"}'  # answer properly escaped


@pytest.mark.parametrize(
    "text",
    [
        LATEX_JSON,
        "Here it is:\n```json\n" + LATEX_JSON + "\n```\n",
        "Let me write a problem about fractions and binomials. Final: " + LATEX_JSON,
    ],
    ids=["bare", "fenced", "trailing"],
)
def test_latex_in_json_keeps_every_backslash(text: str) -> None:
    assert parse_generated(text, "What is 3 + 4?") == ({"question": LATEX, "answer": r"\frac{3}{2}"}, None)


def test_json_repair_keeps_real_escapes() -> None:
    text = (
        '{"question": "A train leaves at noon.\\n\\nHow far has it gone at $\\\\frac{3}{2}$ km per minute '
        '(in \\text{km}) by 12:30?\\nCaf\\u00e9 stop: \\"none\\".", "answer": "45"}'
    )
    assert parse_generated(text, "What is 3 + 4?") == (
        {
            "question": "A train leaves at noon.\n\nHow far has it gone at $\\frac{3}{2}$ km per minute "
            '(in \\text{km}) by 12:30?\nCafé stop: "none".',
            "answer": "45",
        },
        None,
    )
    # a newline before a word and a LaTeX command after \n or \t, side by side
    assert extract_json_object(r'{"question": "\nThe value of $\nu\tau$\nis\ttwice \to", "answer": "x"}') == {
        "question": "\nThe value of $\\nu\\tau$\nis\ttwice \\to",
        "answer": "x",
    }


_AFTER_CONTROL = re.compile(r"([\x08\x0c\r\n\t])([A-Za-z]*)")


def _unambiguous(text: str) -> bool:
    """No place where the repair reads JSON differently on purpose: a backspace, form feed or carriage
    return before a letter, or a newline or tab whose escape runs into a LaTeX name (``\\nu``)."""
    for control, run in _AFTER_CONTROL.findall(text):
        if run and (control in "\x08\x0c\r" or {"\n": "n", "\t": "t"}[control] + run in LATEX_COMMANDS):
            return False
    return True


_JSONISH = st.characters(codec="utf-8") | st.sampled_from(list('\n\t\r\x0c\\"/ nteqaubfrx'))


@given(st.dictionaries(st.text(max_size=8), st.text(_JSONISH, max_size=40), max_size=4), st.booleans())
def test_json_repair_reads_any_unambiguous_json_as_json_loads_does(value: dict[str, str], ascii_only: bool) -> None:
    if all(_unambiguous(t) for t in [*value, *value.values()]):
        text = json.dumps(value, ensure_ascii=ascii_only)
        assert loads_keeping_latex(text) == (json.loads(text), len(text))


def test_tagged_blocks_are_taken_byte_exact_and_the_last_pair_wins() -> None:
    seed = "What is 3 + 4?"
    text = "<question>\n" + LATEX + "\n</question>\n<answer> \\dfrac{3}{2} </answer>"
    assert parse_generated(text, seed) == ({"question": LATEX, "answer": r"\dfrac{3}{2}"}, None)
    drafts = (
        "Draft:\n<question>What is $2^{10}$?</question>\n<answer>1000</answer>\nThat answer is wrong, "
        "and the problem is too easy. Final:\n<question>What is $2^{10} - \\binom{5}{2}$?</question>\n"
        "<answer>1014</answer>\n"
    )
    assert parse_generated(drafts, seed) == ({"question": r"What is $2^{10} - \binom{5}{2}$?", "answer": "1014"}, None)
    both = '<question>What is $\\frac{1}{4}$ of 20?</question><answer>5</answer> {"question": "x", "answer": "y"}'
    assert parse_generated(both, seed)[0] == {"question": r"What is $\frac{1}{4}$ of 20?", "answer": "5"}


def test_tags_after_a_think_block() -> None:
    sample = Sample.from_text(
        "<think>\nThe seed adds; mine can multiply. <question>draft</question>\n</think>\n\n"
        "<question>What is $6 \\times 7$?</question>\n<answer>42</answer>",
        finish_reason="stop",
    )
    assert sample.reasoning.startswith("The seed adds")
    assert parse_generated(sample.answer, "What is 3 + 4?") == (
        {"question": r"What is $6 \times 7$?", "answer": "42"},
        None,
    )
    assert parse_sample(sample, "What is 3 + 4?") == parse_generated(sample.answer, "What is 3 + 4?")


def test_control_characters_become_newline_and_space_or_reject() -> None:
    seed = "What is 3 + 4?"
    assert parse_generated("<question>Row 1:\t3\r\nRow 2:\t4\rSum them.</question><answer>7\t</answer>", seed) == (
        {"question": "Row 1: 3\nRow 2: 4\nSum them.", "answer": "7"},
        None,
    )
    assert parse_generated('{"question": "Columns:\\ta\\tb", "answer": "ab"}', seed) == (
        {"question": "Columns: a b", "answer": "ab"},
        None,
    )
    assert parse_generated('{"question": "Page 1\\u000cPage 2", "answer": "2"}', seed) == (
        None,
        "control character U+000C in question",
    )
    assert parse_generated('{"question": "What is 5 + 6?", "answer": "\\f11"}', seed) == (
        None,
        "control character U+000C in answer",
    )
    assert parse_generated("<question>What is 5\x00 + 6?</question><answer>11</answer>", seed) == (
        None,
        "control character U+0000 in question",
    )
    assert parse_generated("<question>What is 5 + 6?</question><answer>11\x7f</answer>", seed) == (
        None,
        "control character U+007F in answer",
    )


def test_cut_samples_are_rejected_even_when_a_partial_object_parses() -> None:
    seed = "What is 3 + 4?"
    cut = Sample.from_text('{"question": "What is 10 + 5?", "answer": "15"}', finish_reason="length")
    assert parse_sample(cut, seed) == (None, "cut at the token limit (finish_reason=length)")
    unclosed = Sample.from_text('<think>\nMaybe {"question": "What is 10 + 5?", "answer": "15"}', finish_reason="stop")
    assert parse_sample(unclosed, seed) == (None, "reasoning never closed")


def test_c1_control_characters_and_line_separators_are_rejected_and_json_numbers_keep_their_digits() -> None:
    seed = "What is 3 + 4?"
    assert "U+0085" in parse_generated("<question>What is 7 + 8?\x85 Explain.</question><answer>15</answer>", seed)[1]
    assert "U+2028" in parse_generated('{"question": "What is 7 + 8?\\u2028", "answer": "15"}', seed)[1]
    assert parse_generated('{"question": "What is 10^{-5} written out?", "answer": 0.00001}', seed)[0]["answer"] == (
        "0.00001"
    )
