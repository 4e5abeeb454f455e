"""The general generate stage's pieces: dotted placeholders, --parse modes and their rejects, refusals,
ROUGE-L novelty (exact against rouge-score and all pairs), and token slicing."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftkit.errors import InputError
from sftkit.generate.chunking import Chunker, fence_spans
from sftkit.generate.novelty import Novelty, lcs, tokens
from sftkit.generate.parse import check_item, list_lines, parse_spec, raw_items, refuses
from sftkit.prompts import fill, missing

pytestmark = pytest.mark.unit


def test_dotted_placeholders_reach_nested_fields_in_one_pass() -> None:
    row = {"meta": {"topic": "graphs", "tags": ["a", "b"]}, "q": "{{meta.topic}}", "a.b": "flat"}
    assert fill("{{meta.topic}} / {{meta.tags.1}} / {{q}} / {{a.b}} / {{meta}}", row) == (
        'graphs / b / {{meta.topic}} / flat / {"topic": "graphs", "tags": ["a", "b"]}'
    )
    assert missing("{{meta.size}} {{q}} {{meta.tags.5}}", row) == ["meta.size", "meta.tags.5"]
    with pytest.raises(InputError, match=r"no value for meta\.size"):
        fill("{{meta.size}}", row)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("yaml", "the modes are"), ("tags", "name the tags"), ("lines:a,b", "one field"), ("json:a,a", "distinct")],
)
def test_a_bad_parse_spec_is_one_line(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse_spec(text)


def test_parse_modes() -> None:
    assert raw_items("  whole\n", parse_spec("text:instruction")) == ([({"instruction": "  whole\n"}, None)], None)
    assert raw_items("<a>draft</a><a> x </a><b>\\frac{1}{2}</b>", parse_spec("tags:a,b"))[0] == [
        ({"a": "x", "b": "\\frac{1}{2}"}, None)
    ]
    assert raw_items('Sure: {"k": 7.0, "v": "t"}', parse_spec("json:k,v"))[0] == [({"k": "7", "v": "t"}, None)]
    assert raw_items("nothing", parse_spec("json:k"))[1] == "no JSON object"
    # one broken item of a JSON list costs only that item; reading goes on after it
    broken = '```json\n[{"instruction": "A"}, {"instruction": "B" "oops": 1}, {"instruction": "C"}, 3, {"x": "y"}]\n```'
    items, why = raw_items(broken, parse_spec("json-list:instruction"))
    assert why is None and items == [
        ({"instruction": "A"}, None),
        (None, "list item is not valid JSON"),
        ({"instruction": "C"}, None),
        (None, "list item is neither an object nor a string"),
        (None, "list item lacks a string 'instruction'"),
    ]
    assert raw_items('Here: ["one", "two"] done', parse_spec("json-list:q"))[0] == [
        ({"q": "one"}, None),
        ({"q": "two"}, None),
    ]
    assert raw_items("no list", parse_spec("json-list"))[1] == "no JSON list"


def test_lines_are_numbered_or_bulleted_items_with_their_continuations() -> None:
    text = "Here are tasks:\n1. Write a poem\n   about rain.\n2) Sort a list\n- Bullet one\n\nHope this helps!\n"
    text += "3、翻译这句话"
    assert list_lines(text) == ["Write a poem\nabout rain.", "Sort a list", "Bullet one", "翻译这句话"]
    assert raw_items("just prose", parse_spec("lines"))[1] == "no numbered or bulleted list"


def test_chinese_and_bold_numbering_are_list_items() -> None:
    assert list_lines("一、写一首诗\n二、翻译这句话") == ["写一首诗", "翻译这句话"]
    assert list_lines("（1）排序\n（2）求和") == ["排序", "求和"]
    assert list_lines("**1.** Write a haiku\n**2.** Sort a list") == ["Write a haiku", "Sort a list"]
    # a wrapped line that opens with a number (3.14, 10:30) continues its item
    assert list_lines("1. Round pi, which is\n3.14 to two places.\n2. Meet at\n10:30 sharp.") == [
        "Round pi, which is\n3.14 to two places.",
        "Meet at\n10:30 sharp.",
    ]


@pytest.mark.parametrize(
    ("text", "texts", "whole"),
    [
        ('Here are [3] tasks:\n[{"text": "a"}, {"text": "b"}]', ["a", "b"], None),
        ('Sure [as JSON]:\n["p", "q"]', ["p", "q"], None),
        ('["x", "y", oops, "z"]', ["x", "y", None, "z"], None),
        ('[["a", "b"], ["c"]]', [None, None], None),
        ("[]", [], "empty JSON list"),
        ("```json\n[]\n```", [], "empty JSON list"),
    ],
)
def test_json_list_finds_the_array_after_bracketed_prose_and_loses_only_a_bad_item(
    text: str, texts: list, whole: str | None
) -> None:
    items, why = raw_items(text, parse_spec("json-list"))
    assert why == whole
    assert [item["text"] if item else None for item, _ in items] == texts


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry to hear your order was late. Here is how to get a refund: open Orders, then Refund.",
        "很抱歉给您带来不便，我们已为您办理退款。",
        "很抱歉听到这个消息。您可以这样申请退款：",
        "I'm sorry I missed your birthday, Sam. I was stuck at the airport.",
        "I can't help but admire the view from here.",
    ],
)
def test_sympathy_that_opens_a_support_answer_is_not_a_refusal(text: str) -> None:
    assert not refuses(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "As an AI language model, I",
        "抱歉，我无法完成这个任务。",
        "作为一个AI，我不能",
        "  I cannot assist with this",
        "I'm sorry. I can't write that.",
        "I am really sorry but that is not something I can do.",
        "I'm sorry for the confusion, but I won't write this.",
        "I'm sorry I can't help with that request.",
    ],
)
def test_refusals_in_english_and_chinese(text: str) -> None:
    assert refuses(text)


def test_checks_reject_refusals_empties_and_control_characters_but_not_sorry_in_a_task() -> None:
    spec = parse_spec("json:q,a")
    assert check_item({"q": "Write an apology: I'm sorry I was late.", "a": "x"}, spec)[1] is None
    assert check_item({"q": "抱歉，作为一个AI我不能回答", "a": "x"}, spec) == (None, "refusal")
    assert check_item({"q": " ", "a": "x"}, spec) == (None, "empty q or a")
    assert check_item({"q": "a\x00b", "a": "x"}, spec) == (None, "control character U+0000 in q")


def _dp_lcs(a: list, b: list) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


@given(st.lists(st.integers(0, 5), max_size=70), st.lists(st.integers(0, 5), max_size=70))
def test_bit_parallel_lcs_is_the_dynamic_programme(a: list[int], b: list[int]) -> None:
    assert lcs(a, b) == _dp_lcs(a, b)


def test_rouge_l_matches_rouge_score_and_chinese_counts_characters() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    words = "write a short poem about the sea sort list of numbers in python explain why sky is blue"
    words = words.split(" ")
    rng = random.Random(1)
    for _ in range(200):
        a, b = (" ".join(rng.choices(words, k=rng.randint(1, 15))) for _ in range(2))
        ta, tb = tokens(a), tokens(b)
        assert 2 * lcs(ta, tb) / (len(ta) + len(tb)) == pytest.approx(scorer.score(a, b)["rougeL"].fmeasure)
    assert tokens("写一首关于大海的诗 in Python3!") == [
        "写",
        "一",
        "首",
        "关",
        "于",
        "大",
        "海",
        "的",
        "诗",
        "in",
        "python3",
    ]


def test_novelty_index_decides_as_all_pairs() -> None:
    rng = random.Random(0)
    vocab = [f"w{k}" for k in range(30)] + list("天地人和山水")
    pool = [" ".join(rng.choices(vocab, k=rng.randint(3, 12))) for _ in range(300)]
    novelty = Novelty(0.5, pool)
    for _ in range(300):
        text = " ".join(rng.choices(vocab, k=rng.randint(3, 12)))
        t = tokens(text)
        brute = any(2 * lcs(t, tokens(p)) / (len(t) + len(tokens(p))) >= 0.5 for p in pool)
        assert (novelty.match(text)[1] >= 0) == brute
    assert Novelty(0.7, ["给我写一首关于春天的诗"]).similar("请写一首关于春天的诗") == (
        "too similar to a pool instruction (ROUGE-L >= 0.7)"
    )
    novelty = Novelty(0.7)
    assert novelty.similar("Sort these numbers") is None
    novelty.add("Sort these numbers")
    assert novelty.similar("sort these numbers!") == "too similar to an earlier item (ROUGE-L >= 0.7)"


class ByteTokenizer:
    """A byte-level stand-in: one token per ASCII word or space run, and three per CJK character, all three
    with that character's offsets (as a byte-level BPE reports them)."""

    def __call__(self, text: str, **_: object) -> dict:
        import re

        offsets = []
        for m in re.finditer(r"\w+|\s+|.", text):
            if ord(m.group()[0]) > 0x2E80:
                offsets += [(m.start(), m.start() + 1)] * 3 + [
                    (i, i + 1) for i in range(m.start() + 1, m.end()) for _ in range(3)
                ]
            else:
                offsets.append((m.start(), m.end()))
        return {"offset_mapping": offsets}


def test_slices_count_tokens_exactly_never_cut_a_character_and_spare_code_fences() -> None:
    tok = ByteTokenizer()
    text = "one two three four five six seven eight nine ten " * 3 + "中文字符测试" * 5
    pieces = Chunker(tok, 10, 0).slices(text)
    assert "".join(pieces) == text
    assert all(len(tok(p)["offset_mapping"]) <= 10 for p in pieces)
    assert all(not p.startswith(("\ufffd",)) for p in pieces)
    overlapped = Chunker(tok, 10, 4).slices(text)
    assert overlapped[0] == "one two three four five " and overlapped[1].startswith("four five six")
    assert overlapped[-1].endswith("测试") and all(len(tok(p)["offset_mapping"]) <= 10 for p in overlapped)
    intro = "Intro words here and there and more words.\n"
    code = intro + "```python\nx = 1\ny = 2\nz = 3\n```\nAfter the code."
    assert fence_spans(code) == [(len(intro), code.index("\nAfter"))]
    assert Chunker(tok, 30, 0).slices(code)[0] == intro  # not cut inside the fence: before it
    assert Chunker(tok, 30, 0).slices("Short.\n" + code[len(intro) :])[0].startswith("Short.\n```python\nx")
    with pytest.raises(InputError, match="overlap"):
        Chunker(tok, 4, 4)
