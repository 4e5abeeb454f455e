"""Export formats and validation splits as functions: reasoning modes, stable and stratified splits, the row chain."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftkit.export.formats import FormatOptions, conversation, to_record
from sftkit.export.reasoning import RowError
from sftkit.export.splits import SplitOptions, key_text, validation_mask
from sftkit.upload.provenance import Stage, chain

pytestmark = pytest.mark.unit


def _record(row: dict, fmt: str, mode: str) -> dict:
    opts = FormatOptions(fmt, mode)
    return to_record(conversation(row, opts), opts)


@pytest.mark.parametrize(
    ("mode", "content", "extra"),
    [
        ("inline", "<think>\nweigh it\n</think>\n\n4", {}),
        ("field", "4", {"reasoning_content": "weigh it"}),
        ("drop", "4", {}),
    ],
)
def test_reasoning_inline_field_or_dropped(mode: str, content: str, extra: dict) -> None:
    for solution in ("<think>weigh it</think>4", "weigh it\n</think>\n4"):  # opened here, or by the template
        record = _record({"problem": "2+2?", "generated_solution": solution}, "messages", mode)
        assert record["messages"][-1] == {"role": "assistant", "content": content, **extra}
    plain = _record({"question": "2+2?", "answer": "4"}, "alpaca", mode)
    assert plain["output"] == "4"  # the generation stage's names, and no reasoning at all
    separate = {"question": "2+2?", "answer": "4", "reasoning": "weigh it"}  # generation keeps it in its own field
    sharegpt = _record(separate, "sharegpt", mode)
    assert sharegpt["conversations"][1]["value"] == content


@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=300, unique=True),
    st.integers(0, 5),
    st.floats(0.05, 0.5),
    st.randoms(use_true_random=False),
)
def test_split_is_stable_under_reordering_sharding_and_added_rows(ids, seed, fraction, rng) -> None:
    opts = SplitOptions(fraction=fraction, seed=seed)

    def split(rows: list[str]) -> dict[str, bool]:
        return dict(zip(rows, validation_mask(rows, None, opts), strict=True))

    whole = split(ids)
    shuffled = rng.sample(ids, len(ids))
    assert split(shuffled) == whole
    cut = rng.randrange(len(ids) + 1)
    assert {**split(ids[:cut] or ["_"]), **split(ids[cut:] or ["_"])}.items() >= whole.items()  # shard by shard
    more = split([*ids, *(f"new-{k}" for k in range(50))])
    assert {k: more[k] for k in ids} == whole


@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=5, max_size=200, unique=True),
    st.integers(0, 20),
    st.integers(1, 30),
    st.randoms(use_true_random=False),
)
def test_val_size_takes_exactly_n_and_added_rows_only_push_rows_out(ids, size, added, rng) -> None:
    opts = SplitOptions(size=size, seed=3)

    def split(rows: list[str]) -> dict[str, bool]:
        return dict(zip(rows, validation_mask(rows, None, opts), strict=True))

    whole = split(ids)
    assert sum(whole.values()) == min(size, len(ids)) and split(rng.sample(ids, len(ids))) == whole
    more = split([*ids, *(f"+{k}" for k in range(added))])
    moved = [k for k in ids if more[k] != whole[k]]
    assert len(moved) <= added and all(whole[k] and not more[k] for k in moved)


def test_split_share_is_within_tolerance_and_strata_keep_theirs() -> None:
    ids = [f"row-{k}" for k in range(20_000)]
    share = validation_mask(ids, None, SplitOptions(fraction=0.1)).mean()
    assert abs(share - 0.1) < 0.007  # 3.3 standard deviations of a binomial share at n=20,000
    strata = ["rare" if k % 50 == 0 else "common" for k in range(len(ids))]  # 400 rare rows
    mask = validation_mask(ids, strata, SplitOptions(fraction=0.1, stratify="source"))
    rare = np.array([s == "rare" for s in strata])
    assert abs(mask[rare].sum() - 40) < 20 and abs(mask[~rare].sum() - 1_960) < 130  # 3.3 sd each
    sized = validation_mask(ids, strata, SplitOptions(size=101, stratify="source"))
    assert sized.sum() == 101 and sized[rare].sum() == 2  # 101 * 400 / 20,000 = 2.02


_KEYS = st.lists(st.text(min_size=1, max_size=6), min_size=2, max_size=120, unique=True)


@given(_KEYS, _KEYS, st.floats(0.05, 0.5), st.integers(1, 60), st.integers(0, 3))
def test_stratified_splits_only_move_old_rows_to_train_and_strata_do_not_interact(
    old, new, fraction, size, grown
) -> None:
    """Rows added (to stratum ``grown``, possibly a new one): with --val-fraction no old row moves at all; with
    --val-size the rows of every stratum that got no new rows only move from validation to train."""

    def stratum(key: str) -> str:
        return str(len(key) % 3)

    added = [k for k in new if k not in old]
    keys, strata = old + added, [stratum(k) for k in old] + [str(grown)] * len(added)
    for opts in (SplitOptions(fraction=fraction, stratify="s"), SplitOptions(size=size, stratify="s")):
        before = validation_mask(old, [stratum(k) for k in old], opts)
        after = validation_mask(keys, strata, opts)[: len(old)]
        if opts.fraction:
            assert (before == after).all()
            continue
        assert validation_mask(keys, strata, opts).sum() == min(size, len(keys))
        untouched = np.array([stratum(k) != str(grown) for k in old], dtype=bool)
        assert not (after & ~before & untouched).any()  # no untouched row moved from train to validation


def test_val_size_counts_split_keys_and_keeps_a_problems_rows_together() -> None:
    keys = ["a", "a", "a", "b", "c", "c", "d", "e"]
    mask = validation_mask(keys, None, SplitOptions(size=2, seed=1))
    chosen = {k for k, v in zip(keys, mask, strict=True) if v}
    assert len(chosen) == 2 and all(mask[i] == (k in chosen) for i, k in enumerate(keys))
    assert key_text(5.0) == key_text(5) == "5" and key_text(5.5) == "5.5"  # an int id widened to float: same key


def test_the_row_chain_shows_what_each_stage_read() -> None:
    stages = [
        Stage("download", "a", 3_200_000, 2_000),
        Stage("label_filter", "b", 2_000, 300),
        Stage("llm_filter", "c", 12, 11),
        Stage("length_selector", "d", None, 10),
    ]
    assert chain(stages) == "3,200,000 → 2,000 → 300 (12 read) → 11 → 10"


def test_sharegpt_reasoning_field_never_drops_an_earlier_turns_reasoning_and_reads_back() -> None:
    chat = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "<think>R1</think>A1"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "<think>R2</think>A2"},
    ]
    with pytest.raises(RowError, match="earlier assistant turn's reasoning would be lost"):
        _record({"messages": chat}, "sharegpt", "field")
    last_only = [chat[0], {"role": "assistant", "content": "A1"}, *chat[2:]]
    shared = _record({"messages": last_only}, "sharegpt", "field")
    assert shared["reasoning_content"] == "R2"
    back = _record(shared, "messages", "field")  # ShareGPT's reasoning_content column is the last turn's again
    assert back["messages"][-1] == {"role": "assistant", "content": "A2", "reasoning_content": "R2"}
