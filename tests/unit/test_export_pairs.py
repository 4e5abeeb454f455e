"""Preference pairs and conversations as functions: pair selection stable under reordering and sharding, the
strategies, hh-rlhf transcripts, score margins, and multi-turn tool conversations round-tripping through Arrow."""

import json
import random

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftkit.export.formats import FormatOptions, conversation, to_record
from sftkit.export.pairs import PairMaker, PairOptions
from sftkit.export.reasoning import RowError

pytestmark = pytest.mark.unit

FORMAT = FormatOptions("dpo")


def _sample(text: str, correct: bool | None, truncated: bool = False) -> dict:
    return {"answer": text, "verified": correct, "truncated": truncated, "correct": correct}


def _problem(i: int, rng: random.Random) -> dict:
    good = [_sample(f"right {i} {k}" + "!" * rng.randrange(5), True) for k in range(rng.randrange(1, 4))]
    bad = [_sample(f"wrong {i} {k}" + "?" * rng.randrange(5), False) for k in range(rng.randrange(1, 4))]
    unsure = [_sample(f"unsure {i}", None), _sample(f"cut {i}", False, truncated=True)]
    return {"problem": f"Problem {i}?", "samples": rng.sample(good + bad + unsure, len(good + bad + unsure))}


def _pairs(rows: list[dict], opts: PairOptions) -> set[tuple[str, str, str]]:
    maker = PairMaker(FORMAT, opts)
    made = [m for row in rows for m in maker.row(row, "-")] + maker.finish()[0]
    return {(q, rec["chosen"][0]["content"], rec["rejected"][0]["content"]) for q, rec, _ in made}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 1000), st.sampled_from(["random", "longest-vs-shortest", "all"]), st.integers(1, 4))
def test_pairs_are_stable_under_reordering_sharding_and_sample_order(seed: int, strategy: str, k: int) -> None:
    rng = random.Random(seed)
    rows = [_problem(i, rng) for i in range(8)]
    opts = PairOptions(k, strategy, seed=seed % 3)
    whole = _pairs(rows, opts)
    shuffled = [{**r, "samples": rng.sample(r["samples"], len(r["samples"]))} for r in rng.sample(rows, len(rows))]
    cut = rng.randrange(len(rows) + 1)
    assert _pairs(shuffled, opts) == whole
    assert _pairs(shuffled[:cut], opts) | _pairs(shuffled[cut:], opts) == whole
    assert all(c.startswith("right") and r.startswith("wrong") for _, c, r in whole)  # never unsure, never cut
    per = {q: sum(p[0] == q for p in whole) for q, _, _ in whole}
    assert all(n <= k for n in per.values()) or strategy == "all"


def test_strategies_and_rejected_include() -> None:
    row = {
        "problem": "P?",
        "samples": [
            _sample("ok", True),
            _sample("ok, at length", True),
            _sample("no", False),
            _sample("no, at some length", False),
            _sample("maybe", None),
            _sample("cut off", False, truncated=True),
        ],
    }
    assert _pairs([row], PairOptions(1, "longest-vs-shortest")) == {("P?", "ok, at length", "no")}
    assert len(_pairs([row], PairOptions(1, "all"))) == 4
    both = _pairs([row], PairOptions(1, "all", rejected_include=("truncated", "undecided")))
    assert {r for _, _, r in both} == {"no", "no, at some length", "maybe", "cut off"}
    assert {c for _, c, _ in both} == {"ok", "ok, at length"}
    assert len(_pairs([row], PairOptions(3, "random", seed=1))) == 3
    with pytest.raises(RowError, match="no pair: 0 correct and 1 incorrect"):
        _pairs([{"problem": "P?", "samples": [_sample("no", False), _sample("x", None)]}], PairOptions())


HH = "\n\nHuman: Hi there\n\nAssistant: Hello.\n\nHuman: Tell me a joke.\n\nAssistant: "


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"chosen": HH + "Why did the chicken...", "rejected": HH + "No."}, None),
        ({"chosen": "Human: Hi\n\nAssistant: a", "rejected": HH + "No."}, "field 'chosen': not a transcript"),
        ({"chosen": HH + "Same.", "rejected": HH + "Same."}, "chosen and rejected are the same"),
        ({"chosen": HH + "   ", "rejected": HH + "No."}, "field 'chosen' turn 3: empty Assistant turn"),
        ({"chosen": "\n\nHuman: a\n\nHuman: b\n\nAssistant: c", "rejected": HH + "x"}, "Human twice in a row"),
        ({"chosen": "\n\nHuman: Hi there\n\nAssistant: Yo.", "rejected": HH + "No."}, "share every turn but"),
        ({"prompt": "Joke?", "chosen": "Ha.", "rejected": "No."}, None),
        (
            {
                "prompt": [{"role": "user", "content": "Joke?"}],
                "chosen": [{"role": "assistant", "content": "Ha."}],
                "rejected": [{"role": "assistant", "content": "No."}],
            },
            None,
        ),
    ],
)
def test_chosen_rejected_transcripts_parse_into_turns_or_are_rejected(row: dict, reason: str | None) -> None:
    maker = PairMaker(FORMAT, PairOptions())
    if reason:
        with pytest.raises(RowError, match=reason):
            maker.row(row, "-")
        return
    ((question, rec, _),) = maker.row(row, "-")
    assert rec["prompt"][-1]["role"] == "user" and rec["chosen"][0]["role"] == rec["rejected"][0]["role"] == "assistant"
    if "Human" in row["chosen"]:
        assert [m["content"] for m in rec["prompt"]] == ["Hi there", "Hello.", "Tell me a joke."]
        assert question == "Hi there" and rec["chosen"][0]["content"] == "Why did the chicken..."


def test_scores_pair_the_highest_and_lowest_above_the_margin_whatever_the_order() -> None:
    rows = [
        {"question": f"Q{i}", "answer": f"a{k}", "score": s}
        for i, scores in enumerate([(0.9, 0.5, 0.1), (0.6, 0.5), (0.7,)])
        for k, s in enumerate(scores)
    ]
    for order in (rows, rows[::-1]):
        maker = PairMaker(FORMAT, PairOptions(min_margin=0.3))
        assert all(maker.row(r, f"row {n}") == [] for n, r in enumerate(order))
        made, rejects = maker.finish()
        assert [(q, m["chosen"][0]["content"], m["rejected"][0]["content"]) for q, m, _ in made] == [("Q0", "a0", "a2")]
        assert sorted(reason for _, reason, _ in rejects) == [
            "no pair: margin 0.1 < --min-margin 0.3",
            "no pair: one scored row for this prompt",
        ]
    with pytest.raises(RowError, match="score is null"):
        PairMaker(FORMAT, PairOptions()).row({"question": "Q", "answer": "a", "score": None}, "-")


def test_multi_turn_tool_conversations_round_trip_messages_sharegpt_messages() -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    row = {
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "U1"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call, {**call, "function": {"name": "g", "arguments": {}}}],
            },
            {"role": "tool", "content": "R1"},
            {"role": "assistant", "content": "<think>\nr\n</think>\n\nA1"},
            {"role": "user", "content": "U2"},
            {"role": "assistant", "content": "A2"},
        ],
        "tools": json.dumps([{"type": "function", "function": {"name": "f"}}]),
    }

    def export(rows: list[dict], fmt: str) -> list[dict]:  # through Arrow, as the Parquet files hold them
        opts = FormatOptions(fmt)
        return datasets.Dataset.from_list([to_record(conversation(r, opts), opts) for r in rows]).to_list()

    messages = export([row], "messages")
    sharegpt = export(messages, "sharegpt")
    assert [t["from"] for t in sharegpt[0]["conversations"]] == [
        "human",
        "function_call",
        "observation",
        "gpt",
        "human",
        "gpt",
    ]
    assert export(sharegpt, "messages") == messages
    assert messages[0]["messages"][2]["tool_calls"][1]["function"] == {"name": "g", "arguments": "{}"}
    with pytest.raises(RowError, match="alpaca has no place for tools"):
        to_record(conversation(row, FormatOptions("alpaca")), FormatOptions("alpaca"))
    two = {"messages": [*row["messages"][:2], {"role": "assistant", "content": "A"}, *row["messages"][5:]]}
    with pytest.raises(RowError, match="alpaca holds one question and one answer: this row has 4 turns"):
        to_record(conversation(two, FormatOptions("alpaca")), FormatOptions("alpaca"))
    mixed = {
        "messages": [
            row["messages"][1],
            {**row["messages"][2], "content": "Let me look."},
            row["messages"][3],
            row["messages"][6],
        ]
    }
    with pytest.raises(RowError, match="both text and tool calls"):
        to_record(conversation(mixed, FormatOptions("sharegpt")), FormatOptions("sharegpt"))
    twice = {"messages": [row["messages"][1], row["messages"][6], row["messages"][6]]}
    with pytest.raises(RowError, match=r"sharegpt needs user .* in alternation: user, assistant, assistant"):
        to_record(conversation(twice, FormatOptions("sharegpt")), FormatOptions("sharegpt"))
    assert to_record(conversation(twice, FormatOptions("messages")), FormatOptions("messages"))  # messages can


def test_one_answer_scored_high_and_low_makes_no_pair_with_itself() -> None:
    maker = PairMaker(FORMAT, PairOptions(min_margin=0.1))
    for i, (answer, score) in enumerate([("same", 0.9), ("same", 0.1), ("other", 0.5)]):
        assert maker.row({"question": "Q", "answer": answer, "score": score}, f"r{i}") == []
    made, rejects = maker.finish()
    assert made == []
    assert [why for _, why, _ in rejects] == ["no pair: the highest and the lowest scored answers are the same text"]


@pytest.mark.parametrize("mode", ["inline", "field"])
def test_filter_pairs_keep_each_samples_reasoning(mode: str) -> None:
    samples = [{**_sample("A", True), "reasoning": "weigh it"}, {**_sample("B", False), "reasoning": "guess"}]
    [(_, record, _)] = PairMaker(FormatOptions("dpo", mode), PairOptions()).row(
        {"problem": "Q", "samples": samples}, "-"
    )
    chosen, rejected = record["chosen"][0], record["rejected"][0]
    if mode == "inline":
        assert (chosen["content"], rejected["content"]) == (
            "<think>\nweigh it\n</think>\n\nA",
            "<think>\nguess\n</think>\n\nB",
        )
    else:
        assert (chosen["reasoning_content"], chosen["content"]) == ("weigh it", "A")
        assert rejected["reasoning_content"] == "guess"
