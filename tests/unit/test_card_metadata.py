"""The card's metadata a Hub user trusts: values from the Hub's lists, the language told from the data, every
stage count filled in, and no local path, relative or absolute."""

from pathlib import Path

import pytest

from sftkit.errors import InputError
from sftkit.scripts import languages
from sftkit.upload.hub_metadata import check_metadata, hub_lists
from sftkit.upload.local_paths import publishable
from sftkit.upload.provenance import chain, stage
from sftkit.upload.summary import size_category

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("license", "language", "tasks", "flag", "nearest"),
    [
        ("CC-BY-4.0", None, None, "--license CC-BY-4.0", "'cc-by-4.0'"),
        ("apache2.0", None, None, "--license apache2.0", "'apache-2.0'"),
        (None, ["english"], None, "--language english", "'en'"),
        (None, ["en", "Chinese"], None, "--language Chinese", "'zh'"),
        (None, None, ["text_generation"], "--task-categories text_generation", "'text-generation'"),
    ],
)
def test_an_unknown_value_is_refused_naming_the_nearest_valid_one(license, language, tasks, flag, nearest) -> None:
    with pytest.raises(InputError) as err:
        check_metadata(license, language, tasks)
    message = str(err.value)
    assert message.startswith(flag + ": ") and f"did you mean {nearest}?" in message and "\n" not in message


def test_the_hubs_values_pass_and_the_lists_name_their_source() -> None:
    check_metadata("cc-by-nc-sa-4.0", ["en", "zh", "zh-Hans"], ["text-generation", "question-answering"])
    check_metadata("other", None, None)
    lists = hub_lists()
    assert {"license", "task_categories", "size_categories"} <= set(lists["_source"])
    assert "unknown" in lists["license"] and "text-generation" in lists["task_categories"]


def test_every_size_category_the_card_computes_is_one_the_hub_lists() -> None:
    valid = set(hub_lists()["size_categories"])
    for rows in (0, 999, 1_000, 54_321, 10**9, 5 * 10**10, 2 * 10**11, 10**12, 10**13):
        assert size_category(rows) in valid, rows
    assert (size_category(5 * 10**10), size_category(2 * 10**11)) == ("10B<n<100B", "100B<n<1T")


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["What is the sum of $\\frac{1}{2}$ and x?"], ["en"]),
        (["求 $\\frac{a}{b} + \\sqrt{x}$ 的值，其中 a=1, b=2。", "请计算下列积分 \\int_0^1 x dx"], ["zh"]),
        (["次の値を求めなさい。答えは 4 です。"], ["ja"]),
        (["다음 값을 구하시오."], ["ko"]),
        (["这是一个问题。" * 4, "This is a question about numbers and sums."], ["zh", "en"]),
        (["", "1 + 2 = 3"], ["en"]),
    ],
)
def test_the_language_is_told_from_the_scripts(texts: list[str], expected: list[str]) -> None:
    assert languages(texts) == expected


def test_decontaminations_written_count_fills_the_chain_and_the_table() -> None:
    s = stage({"stage": "decontaminate", "rows_in": 385, "written": 383, "contaminated": 2}, "clean.jsonl")
    assert (s.rows_in, s.rows_out) == (385, 383)
    assert chain([s]) == "385 → 383"


def test_no_local_path_relative_or_absolute_is_published(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "results" / "demo" / "tiny-model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "results" / "demo" / "dataset"
    stats = {
        "model": "results/demo/tiny-model",  # relative, here
        "tokenizer": "./tok",  # says it is a path
        "parent": "../models/judge",
        "hub": "Qwen/Qwen3-8B",  # a Hub id, no such folder here
        "ratio": "1/2/3",  # not a path
        "elsewhere": "results/run7/bench.jsonl",  # three parts: a path, even where it is gone
        "data": "data/seeds.jsonl",  # a data file
        "inside": str(root / "seeds" / "a.jsonl"),
    }
    clean = publishable(stats, root)
    assert clean == {
        "model": "tiny-model",
        "tokenizer": "tok",
        "parent": "judge",
        "hub": "Qwen/Qwen3-8B",
        "ratio": "1/2/3",
        "elsewhere": "bench.jsonl",
        "data": "seeds.jsonl",
        "inside": "seeds/a.jsonl",
    }


def test_a_windows_path_with_forward_slashes_is_not_published(tmp_path: Path) -> None:
    clean = publishable({"model": "C:/models/x", "note": "read D:/data/seeds.jsonl", "url": "https://a.b/c"}, tmp_path)
    assert clean == {"model": "x", "note": "read seeds.jsonl", "url": "https://a.b/c"}
