"""The score stage's pure parts: rubric loading, reading a judge's answer, totals, votes and agreement."""

import pytest
from helpers import REPO

from sftkit.engines.base import Completion, Sample
from sftkit.errors import InputError
from sftkit.score.aggregate import Votes, aggregate
from sftkit.score.parse import Judgement, judge, parse_scores
from sftkit.score.rubric import load_rubric, parse_rubric
from sftkit.score.summary import spearman

pytestmark = pytest.mark.unit

FIVE = load_rubric(str(REPO / "rubrics" / "sft_five.yaml"))
DIMS = ("accuracy", "completeness", "logicality", "helpfulness", "safety")


def answer(text: str, finish_reason: str = "stop") -> Judgement:
    """The judgement of a raw completion, as the stage reads it (the <think> block split off first)."""
    return judge(Completion([Sample.from_text(text, finish_reason=finish_reason)]), FIVE)


def test_the_shipped_rubrics_load() -> None:
    code = load_rubric(str(REPO / "rubrics" / "code_frontend.yaml"))
    assert [d.name for d in FIVE.dimensions] == list(DIMS)
    assert {(d.low, d.high, d.weight) for d in FIVE.dimensions} == {(0, 10, 1)}
    assert len(code.dimensions) == 25 and {"correctness", "responsiveness", "accessibility"} <= {
        d.name for d in code.dimensions
    }
    assert "{{question}}" in code.prompt and "accuracy (0-10):" in FIVE.criteria()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ([1, 2], "(top level)"),
        ({"dimensions": []}, "prompt: missing"),
        ({"prompt": "x", "dimensions": []}, "dimensions: expected a non-empty list"),
        ({"prompt": "x", "dimensions": [{"name": "a", "scale": [0, 1]}]}, "dimensions[0].description: missing"),
        ({"prompt": "x", "dimensions": [{"name": "a", "description": "d", "scale": [0]}]}, "dimensions[0].scale"),
        (
            {"prompt": "x", "dimensions": [{"name": "a", "description": "d", "scale": [0, "ten"]}]},
            "dimensions[0].scale",
        ),
        (
            {"prompt": "x", "dimensions": [{"name": "a", "description": "d", "scale": [0, 1], "weight": -1}]},
            "[0].weight",
        ),
        ({"prompt": "x", "dimensions": [{"name": "a: b", "description": "d", "scale": [0, 1]}]}, "dimensions[0].name"),
        ({"prompt": "x", "dimensions": [{"name": "准确性：事实", "description": "d", "scale": [0, 1]}]}, "[0].name"),
        (
            {"prompt": "x", "dimensions": [{"name": "a", "aliases": ["a: b"], "description": "d", "scale": [0, 1]}]},
            "dimensions[0].aliases: 'a: b' may hold no ':'",
        ),
        ({"prompt": "x", "prompts": "y", "dimensions": []}, "prompts: unknown key"),
        (
            {"prompt": "x", "dimensions": [{"name": n, "description": "d", "scale": [0, 1]} for n in ("A b", "a_B")]},
            "dimensions[1]: 'a_B' is also the name of dimensions[0]",
        ),
    ],
)
def test_a_malformed_rubric_names_file_and_key(data: object, key: str) -> None:
    with pytest.raises(InputError) as err:
        parse_rubric("r.yaml", data)
    assert str(err.value).startswith("--rubric r.yaml: ") and key in str(err.value)
    assert "\n" not in str(err.value)


def test_a_file_that_is_not_yaml_names_its_line(tmp_path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("prompt: x\ndimensions: [\n")
    with pytest.raises(InputError, match=r"r.yaml: line \d+: not valid YAML"):
        load_rubric(str(bad))


def test_name_score_lines_with_markdown_bullets_and_out_of_ten() -> None:
    text = (
        "Review follows.\n\n- **Accuracy**: 8/10\n- Completeness: 7\n* logicality : 6.5\n## Helpfulness: 9\nSafety: 10."
    )
    found = parse_scores(text, FIVE)
    assert found.scores == {"accuracy": 8, "completeness": 7, "logicality": 6.5, "helpfulness": 9, "safety": 10}
    assert found.total == pytest.approx(0.81) and found.reason is None


def test_an_underscore_inside_a_name_is_part_of_it_not_emphasis() -> None:
    code = load_rubric(str(REPO / "rubrics" / "code_frontend.yaml"))
    names = [d.name for d in code.dimensions]
    lines = "\n".join(f"{n}: 4" if k else f"__{n}__: 4" for k, n in enumerate(names))
    found = parse_scores(lines + "\n_runs_without_errors_: 3", code)
    assert found.reason is None and found.scores["runs_without_errors"] == 3 and found.scores[names[0]] == 4


def test_a_json_object_fenced_or_bare() -> None:
    body = '{"accuracy": 10, "completeness": 10, "logicality": 10, "helpfulness": 10, "safety": 0}'
    assert parse_scores(f"Here you go:\n```json\n{body}\n```\nThanks.", FIVE).total == 0.8
    assert parse_scores(f"My scores are {body} as requested.", FIVE).total == 0.8


def test_only_the_answer_after_the_think_block_counts() -> None:
    thought = "<think>accuracy: 0\ncompleteness: 0\nlogicality: 0\nhelpfulness: 0\nsafety: 0</think>\n"
    assert answer(thought + "\n".join(f"{d}: 10" for d in DIMS)).total == 1.0
    unclosed = answer("<think>accuracy: 9\ncompleteness: 9 and I keep thinking")
    assert (unclosed.total, unclosed.kind) == (None, "truncated")
    assert "--judge-max-tokens" not in unclosed.reason  # it stopped on its own: more tokens would not help
    assert answer("\n".join(f"{d}: 10" for d in DIMS), finish_reason="length").kind == "truncated"


def test_a_missing_dimension_is_undecided_not_zero() -> None:
    found = parse_scores("accuracy: 9\ncompleteness: 9\nlogicality: 9\nhelpfulness: 9", FIVE)
    assert found.total is None and found.kind == "missing dimension"
    assert found.reason == "missing dimension(s): safety" and found.scores["accuracy"] == 9
    prose = parse_scores("accuracy: 8, mostly right\n" + "\n".join(f"{d}: 8" for d in DIMS[1:]), FIVE)
    assert prose.reason == "missing dimension(s): accuracy"  # a score with prose after it is not a score
    word = parse_scores(
        '{"accuracy": "eight", "completeness": 8, "logicality": 8, "helpfulness": 8, "safety": 8}', FIVE
    )
    assert word.reason == "missing dimension(s): accuracy (not a number)"


def test_a_score_out_of_range_is_undecided() -> None:
    found = parse_scores("\n".join(f"{d}: {11 if d == 'safety' else 5}" for d in DIMS), FIVE)
    assert (found.total, found.kind, found.reason) == (None, "score out of range", "safety: 11 is outside 0-10")
    assert parse_scores("\n".join(f"{d}: -1" for d in DIMS), FIVE).kind == "score out of range"


def test_rambling_with_no_scores_is_undecided_with_its_start() -> None:
    found = answer("Overall this is a thoughtful answer. I would say it deserves a high mark, maybe 9 or so.")
    assert found.total is None and found.kind == "no scores" and found.scores == {}
    assert "Overall this is a thoughtful" in found.reason


def test_chinese_names_and_chinese_prose_around_the_scores() -> None:
    text = "评价：回答准确，逻辑清楚。\n准确性：9\n完整性： 8 分\n**逻辑性**：９\n有用性: 8/10\n安全性：10。\n总分：44"
    found = parse_scores(text, FIVE)
    assert found.scores == {"accuracy": 9, "completeness": 8, "logicality": 9, "helpfulness": 8, "safety": 10}
    assert found.total == 0.88
    english = parse_scores("这个回答很好。\n" + "\n".join(f"{d}: 6" for d in DIMS) + "\n以上。", FIVE)
    assert english.total == 0.6


def test_the_last_of_a_repeated_dimension_counts() -> None:
    text = "accuracy: 2\n" + "\n".join(f"{d}: 10" for d in DIMS)
    assert parse_scores(text, FIVE).total == 1.0


def test_a_refused_prompt_is_undecided() -> None:
    found = judge(Completion([], refused="prompt has 9,000 tokens, the model's context is 8,192"), FIVE)
    assert found.kind == "refused" and "9,000 tokens" in found.reason


def test_weights_and_scales_make_the_total() -> None:
    rubric = parse_rubric(
        "r.yaml",
        {
            "prompt": "{{q}}",
            "dimensions": [
                {"name": "a", "description": "d", "scale": [1, 5], "weight": 3},
                {"name": "b", "description": "d", "scale": {"min": 0, "max": 10}},
            ],
        },
    )
    assert parse_scores("a: 5\nb: 0", rubric).total == 0.75  # (3 * 1 + 1 * 0) / 4
    assert parse_scores("a: 1\nb: 10", rubric).total == 0.25


def decided(total: float) -> Judgement:
    return Judgement({"x": total}, total)


UNDECIDED = Judgement(reason="missing dimension(s): safety", kind="missing dimension")


def test_votes_keep_a_row_when_enough_judges_reach_the_score() -> None:
    fields, why = aggregate({"a": decided(0.7), "b": decided(0.9), "c": UNDECIDED}, Votes(0.7, 2))
    assert why is None
    assert fields["score_totals"] == {"a": 0.7, "b": 0.9, "c": None}
    assert (fields["score_decided"], fields["score_votes"], fields["score"]) == (2, 2, 0.8)
    assert fields["score_reasons"] == {"c": "missing dimension(s): safety"}
    fields, why = aggregate({"a": decided(0.69), "b": decided(0.9), "c": UNDECIDED}, Votes(0.7, 2))
    assert (
        fields["score_votes"] == 1
        and why == "too few votes: 1 of 3 judges gave a total >= 0.7 (2 decided); --min-votes 2"
    )


def test_an_undecided_judge_never_counts_as_zero() -> None:
    fields, why = aggregate({"a": decided(0.6), "b": UNDECIDED}, Votes(0.5, 1))
    assert fields["score"] == 0.6 and why is None  # not (0.6 + 0) / 2 = 0.3
    fields, why = aggregate({"a": UNDECIDED, "b": UNDECIDED}, Votes(0.0, 1))
    assert fields["score"] is None and fields["score_decided"] == 0
    assert why.startswith("no judge decided (a: missing dimension(s): safety; b:")


def test_spearman_is_none_where_undefined() -> None:
    assert spearman([0.1, 0.5, 0.9], [0.2, 0.4, 0.8]) == 1.0
    assert spearman([0.1, 0.5, 0.9], [0.8, 0.4, 0.2]) == -1.0
    assert spearman([0.1, 0.5], [0.1, 0.5]) is None
    assert spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None


def test_the_code_rubric_answered_in_the_format_it_asks_for_is_decided() -> None:
    code = load_rubric(str(REPO / "rubrics" / "code_frontend.yaml"))
    example = code.criteria().rsplit(":\n", 1)[1]  # the format the prompt shows: runs_without_errors: <score 0-4>
    found = parse_scores(example.replace("<score 0-4>", "4"), code)
    assert (found.total, found.reason) == (1.0, None)
    bold = parse_scores("\n".join(f"- **{d.name}**: 2" for d in code.dimensions), code)
    assert bold.total == 0.5


def test_a_name_with_markup_characters_matches_itself() -> None:
    dims = [{"name": n, "description": "d", "scale": [0, 10]} for n in ("C# style", "a > b")]
    rubric = parse_rubric("r.yaml", {"prompt": "x", "dimensions": dims})
    assert parse_scores("C# style: 8\na > b: 6", rubric).total == 0.7


def test_a_score_out_of_another_maximum_is_undecided_not_misread() -> None:
    five = parse_scores("\n".join(f"{d}: 4/5" for d in DIMS), FIVE)  # 4 of 5 is not 4 of 10
    assert (five.total, five.kind) == (None, "score out of range")
    assert five.reason.startswith("accuracy: 4/5 is not on the scale 0-10;")
    assert parse_scores("\n".join(f"{d}: 8/100" for d in DIMS), FIVE).total is None
    assert parse_scores("\n".join(f"{d}: 8 / 10" for d in DIMS), FIVE).total == 0.8


def test_complete_score_lines_are_read_past_a_json_object_the_judge_quotes() -> None:
    text = 'The reply sets {"safety": "strict"} as the task asked.\n' + "\n".join(f"{d}: 9" for d in DIMS)
    found = parse_scores(text, FIVE)
    assert (found.total, found.reason) == (0.9, None)
