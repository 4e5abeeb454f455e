"""Engine output as text: reasoning split from the answer, unfinished answers truncated, OpenAI replies."""

import pytest

from sftkit.engines.base import Sample, Sampling, cut_at_stop

pytestmark = pytest.mark.unit


def test_reasoning_is_split_from_the_answer() -> None:
    s = Sample.from_text("<think>\n3 plus 4 is 7.\n</think>\n\nThe answer is \\boxed{7}.")
    assert (s.reasoning, s.answer) == ("3 plus 4 is 7.", "The answer is \\boxed{7}.")
    opened_by_prompt = Sample.from_text("thinking...</think> final")
    assert (opened_by_prompt.reasoning, opened_by_prompt.answer) == ("thinking...", "final")
    plain = Sample.from_text("just an answer")
    assert (plain.reasoning, plain.answer) == (None, "just an answer")
    assert cut_at_stop("abc STOP def", ("STOP",)) == "abc " and cut_at_stop("abc", ("x",)) == "abc"


@pytest.mark.parametrize(
    ("text", "finish", "opened", "reasoning", "answer", "truncated"),
    [
        ("<think>\nso maybe \\boxed{42}? wait", "length", False, "so maybe \\boxed{42}? wait", "", True),
        (
            "<think>\nso \\boxed{42}. Let me double-check",
            "stop",
            False,
            "so \\boxed{42}. Let me double-check",
            "",
            True,
        ),
        ("So the answer is \\boxed{42}, but wait", "length", False, None, "", True),  # R1: the template opened it
        ("So the answer is \\boxed{42}, but wait", "stop", True, "So the answer is \\boxed{42}, but wait", "", True),
        ("Checked.\n</think>\n\n\\boxed{42}", "stop", True, "Checked.", "\\boxed{42}", False),
        ("Checked.\n</think>\n\n\\boxed{42}", "stop", False, "Checked.", "\\boxed{42}", False),
        ("<think>\n</think>\n\n\\boxed{42}", "stop", False, "", "\\boxed{42}", False),
        ("\\boxed{42}", "length", False, None, "", True),  # finished or not, the limit cut it
        (
            "<think>a</think> The tag </think> above. \\boxed{12}",
            "stop",
            False,
            "a",
            "The tag </think> above. \\boxed{12}",
            False,
        ),  # the first </think> closes; a quoted one is answer text
        (
            "Quoting the question: <think> tags. \\boxed{3}",
            "stop",
            False,
            None,
            "Quoting the question: <think> tags. \\boxed{3}",
            False,
        ),  # <think> opens a block only at the start
        ("<think>a</think> So 42. <think> Or is it \\boxed{41}", "stop", False, "a", "", True),  # reopened, cut
    ],
)
def test_a_sample_without_a_finished_answer_is_truncated(
    text: str, finish: str, opened: bool, reasoning: str | None, answer: str, truncated: bool
) -> None:
    s = Sample.from_text(text, opened=opened, finish_reason=finish)
    assert (s.reasoning, s.answer, s.truncated, s.text) == (reasoning, answer, truncated, text)


def test_openai_reasoning_without_content_never_left_the_block() -> None:
    from sftkit.engines.openai_compat import OpenAIEngine

    def sample(message: dict, finish: str = "stop") -> Sample:
        return OpenAIEngine._sample({"message": message, "finish_reason": finish}, Sampling(), [])

    cut = sample({"content": None, "reasoning_content": "So maybe \\boxed{42}, but wait"})
    assert cut.truncated and cut.answer == "" and cut.reasoning == "So maybe \\boxed{42}, but wait"
    done = sample({"content": "\\boxed{42}", "reasoning_content": "Checked twice."})
    assert not done.truncated and (done.reasoning, done.answer) == ("Checked twice.", "\\boxed{42}")
