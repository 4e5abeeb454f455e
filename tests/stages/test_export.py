"""SFT export: real stage outputs in, Parquet read back by datasets.load_dataset, real chat templates, real cards."""

import json
import random
import re
from pathlib import Path

import datasets
import pytest
from helpers import run_command
from huggingface_hub import DatasetCard

from sftkit.export.formats import FieldMap, turn
from sftkit.export.reasoning import RowError
from sftkit.models.tiny import tiny_tokenizer

pytestmark = pytest.mark.stages

EXPORT = "upload/export_sft.py"
UPLOAD = "upload/upload_data.py"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int, start: int = 0) -> list[dict]:
    """Seeds as the stages keep them: a `<think>` block in the solution (a third carry only its closing tag)."""
    rows = []
    for i in range(start, start + n):
        opening = "" if i % 3 == 0 else "<think>\n"
        rows.append(
            {
                "id": f"r{i}",
                "problem": f"What is {i} + 1?",
                "expected_answer": str(i + 1),
                "generated_solution": f"{opening}{i} plus one.\n</think>\n\nThe answer is \\boxed{{{i + 1}}}.",
                "difficulty_z": (i % 7) / 3 - 1,
                "problem_source": "even" if i % 2 else "odd",
                "samples": [{"answer": "x"}],
            }
        )
    return rows


BAD = [
    ({"id": "b0", "problem": "Q?", "generated_solution": "<think>\nnever closes"}, "reasoning never closed"),
    ({"id": "b1", "problem": "Q?", "generated_solution": "<think>\nall thought\n</think>\n\n"}, "empty answer"),
    ({"id": "b2", "generated_solution": "42"}, "no question"),
    ({"id": "b3", "problem": "Q?", "generated_solution": "A <think> dangling"}, "stray <think>"),
]


def _export(inp: Path, out: Path, *extra: str, check: bool = True):
    return run_command(EXPORT, "--input", str(inp), "--output", str(out), "--license", "cc-by-4.0", *extra, check=check)


def _load(out: Path, *args: str) -> datasets.DatasetDict:
    cache = out.parent / f"hf-cache-{len(list(out.parent.glob('hf-cache-*')))}"
    return datasets.load_dataset(str(out), *args, cache_dir=str(cache))


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_each_format_loads_with_load_dataset_and_bad_rows_are_quarantined(tmp_path: Path, fmt: str) -> None:
    inp = _jsonl(tmp_path / "seeds.jsonl", _rows(40) + [row for row, _ in BAD])
    out = tmp_path / "sft"
    proc = _export(inp, out, "--format", fmt, "--val-fraction", "0.25", "--system-prompt", "Be brief.")
    ds = _load(out)
    assert set(ds) == {"train", "validation"} and len(ds["train"]) + len(ds["validation"]) == 40
    assert 0 < len(ds["validation"]) < 20
    row = next(r for r in ds["train"] if r["id"] in ("r3", "r6", "r9", "r12"))  # only </think>: opened for it
    i = int(row["id"][1:])
    expected = f"<think>\n{i} plus one.\n</think>\n\nThe answer is \\boxed{{{i + 1}}}."
    if fmt == "messages":
        assert row["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"What is {i} + 1?"},
            {"role": "assistant", "content": expected},
        ]
        assert not (out / "dataset_info.json").exists()
    else:
        info = json.loads((out / "dataset_info.json").read_text())
        assert set(info) == {"default", "default_validation"}
        entry = info["default"]
        train = datasets.load_dataset(
            "parquet", data_files=str(out / entry["file_name"]), cache_dir=str(tmp_path / "c2")
        )["train"]
        assert len(train) == len(ds["train"]) and entry["formatting"] == fmt
        assert set(entry["columns"].values()) <= set(train.column_names)  # every mapped column exists
        first = train[0]
        if fmt == "sharegpt":
            tags = entry["tags"]
            turns = first[entry["columns"]["messages"]]
            assert [t[tags["role_tag"]] for t in turns] == [tags["user_tag"], tags["assistant_tag"]]
            assert first[entry["columns"]["system"]] == "Be brief."
            assert row["conversations"][1]["value"] == expected
        else:
            assert row["instruction"] == f"What is {i} + 1?" and row["input"] == "" and row["output"] == expected
    assert "samples" not in ds["train"].column_names and row["difficulty_z"] is not None  # scores kept, blobs not
    rejects = [json.loads(line) for line in (out / "default.rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 4 and "4" in proc.stdout
    for (bad, reason), got in zip(BAD, rejects, strict=True):
        assert reason in got["reason"] and got["record"]["id"] == bad["id"] and "seeds.jsonl: row" in got["location"]


def test_rerun_reordered_with_added_rows_keeps_every_rows_split(tmp_path: Path) -> None:
    rows = _rows(200)
    _export(
        _jsonl(tmp_path / "a.jsonl", rows),
        tmp_path / "one",
        "--format",
        "messages",
        "--val-fraction",
        "0.2",
        "--seed",
        "7",
    )
    later = random.Random(1).sample(rows, len(rows)) + _rows(60, start=500)
    _export(
        _jsonl(tmp_path / "b.jsonl", later),
        tmp_path / "two",
        "--format",
        "messages",
        "--val-fraction",
        "0.2",
        "--seed",
        "7",
    )
    one, two = _load(tmp_path / "one"), _load(tmp_path / "two")
    val_one, val_two = set(one["validation"]["id"]), set(two["validation"]["id"])
    assert val_one and val_two & {r["id"] for r in rows} == val_one
    strat = tmp_path / "strat"
    _export(tmp_path / "a.jsonl", strat, "--format", "messages", "--val-size", "40", "--val-stratify", "problem_source")
    by_source = _load(strat)["validation"]["problem_source"]
    assert by_source.count("odd") == by_source.count("even") == 20


def _pipeline(demo_data: Path, tmp_path: Path) -> Path:
    """The real label filter and length selector on the demo data, as a cluster would have run them; the demo
    file itself stands for a download of a Hub dataset (its stats name the Hub id it came from)."""
    seeds = tmp_path / "hub" / "openmath.jsonl"
    seeds.parent.mkdir()
    seeds.write_bytes(demo_data.read_bytes())
    (tmp_path / "hub" / "openmath.jsonl.stats.json").write_text(
        json.dumps({"stage": "download", "input": "nvidia/OpenMathReasoning", "rows_in": 3_200_000, "records": 2000})
    )
    run_command(
        "selectors/label_filter.py",
        "--input",
        str(seeds),
        "--filter-by-pass-rate",
        "0.6",
        "--output",
        str(tmp_path / "filtered.jsonl"),
    )
    run_command(
        "selectors/length_selector.py",
        "--input",
        str(tmp_path / "filtered.jsonl"),
        "--total_samples",
        "120",
        "--num_bins",
        "4",
        "--output",
        str(tmp_path / "selected.jsonl"),
    )
    return tmp_path / "selected.jsonl"


def test_the_card_tells_how_the_data_was_made(demo_data: Path, tmp_path: Path) -> None:
    selected = _pipeline(demo_data, tmp_path)
    out = tmp_path / "dataset"
    (tmp_path / "cite.bib").write_text("@misc{ours, title={Our set}}\n")
    _export(
        selected,
        out,
        "--format",
        "messages",
        "--val-fraction",
        "0.1",
        "--repo-id",
        "me/math-sft",
        "--citation",
        f"@{tmp_path / 'cite.bib'}",
        "--tags",
        "sft",
        "math",
    )
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "cc-by-4.0" and meta["source_datasets"] == ["nvidia/OpenMathReasoning"]
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/default/train.parquet"},
                {"split": "validation", "path": "data/default/validation.parquet"},
            ],
        }
    ]
    info = meta["dataset_info"][0]
    ds = _load(out)
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {k: len(v) for k, v in ds.items()}
    assert sum(len(v) for v in ds.values()) == 120
    assert meta["task_categories"] == ["text-generation"] and meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"] and meta["tags"] == ["sft", "math"] and meta["pretty_name"] == "math sft"
    text = card.text
    filtered = json.loads((tmp_path / "filtered.jsonl.stats.json").read_text())["records"]
    chain = f"3,200,000 → 2,000 → {filtered:,} → 120"
    assert chain in text, text  # every stage, upstream first, with its rows in and out
    assert text.index("`download`") < text.index("`label_filter`") < text.index("`length_selector`")
    assert "| `messages` |" in text and "OpenAI/TRL" in text and "pass-rate label of a 72B model" in text
    for split in ("train", "validation"):
        assert f"load_dataset('me/math-sft', 'default', split='{split}')" in text
    assert "(plots/default.lengths.png)" in text and (out / "plots" / "default.lengths.png").exists()
    assert "## Limitations" in text and "@misc{ours, title={Our set}}" in text
    assert str(tmp_path) not in card.content and "/tmp/" not in card.content


def test_difficulty_histogram_and_hub_upload_plan_of_an_exported_folder(tmp_path: Path) -> None:
    """upload_data.py --format: each config exported, the card lists train and validation, the plots and
    LLaMA-Factory's dataset_info.json are uploaded."""
    root = tmp_path / "ds"
    _jsonl(root / "hard" / "a.jsonl", _rows(30))
    _jsonl(root / "easy" / "b.jsonl", _rows(20, start=100))
    proc = run_command(
        UPLOAD,
        "--dataset_path",
        str(root),
        "--repo_id",
        "me/set",
        "--dry-run",
        "--license",
        "mit",
        "--format",
        "sharegpt",
        "--val-size",
        "5",
    )
    for name in (
        "dataset_info.json",
        "plots/hard.difficulty.png",
        "plots/easy.lengths.png",
        "data/hard/validation.parquet",
        "README.md",
    ):
        assert name in proc.stdout
    meta = DatasetCard.load(root / "README.md").data.to_dict()
    assert {c["config_name"]: [f["split"] for f in c["data_files"]] for c in meta["configs"]} == {
        "easy": ["train", "validation"],
        "hard": ["train", "validation"],
    }
    hard = _load(root, "hard")
    assert (len(hard["train"]), len(hard["validation"])) == (25, 5)
    assert hard["train"][0]["conversations"][1]["value"].startswith("<think>\n")  # reasoning inline
    assert set(json.loads((root / "dataset_info.json").read_text())) == {
        "easy",
        "easy_validation",
        "hard",
        "hard_validation",
    }
    again = run_command(UPLOAD, "--dataset_path", str(root), "--repo_id", "me/set", "--dry-run", "--license", "mit")
    assert "converted" in again.stdout and not (root / "data" / "hard" / "validation.parquet").exists()
    assert not (root / "dataset_info.json").exists()  # no longer describes the data


@pytest.mark.parametrize("script", [EXPORT, UPLOAD])
def test_no_license_stops_with_one_line_unless_unknown_on_purpose(tmp_path: Path, script: str) -> None:
    inp = _jsonl(tmp_path / "ds" / "cfg" / "a.jsonl", _rows(5))
    args = (
        ["--input", str(inp), "--output", str(tmp_path / "out"), "--format", "alpaca"]
        if script == EXPORT
        else ["--dataset_path", str(tmp_path / "ds"), "--repo_id", "me/set", "--dry-run"]
    )
    proc = run_command(script, *args, check=False)
    assert proc.returncode == 2 and "--license is required" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    run_command(script, *args, "--license", "unknown")


def test_exported_rows_render_in_the_tiny_models_qwen3_style_template(tmp_path: Path) -> None:
    tiny_model = tiny_tokenizer(tmp_path / "tiny")  # the tiny model's tokenizer and template, without training
    inp = _jsonl(tmp_path / "seeds.jsonl", _rows(6))
    for mode in ("field", "inline"):
        out = tmp_path / mode
        _export(inp, out, "--format", "messages", "--reasoning", mode, "--tokenizer", str(tiny_model))
        text = DatasetCard.load(out / "README.md").text
        rendered = text.split("```text\n", 1)[1].split("```", 1)[0]
        assert rendered.startswith("<|im_start|>user\nWhat is 0 + 1?<|im_end|>\n<|im_start|>assistant\n<think>\n0 plus")
        assert rendered.count("<think>") == rendered.count("</think>") == 1  # the template read reasoning_content
        assert str(tiny_model) not in text
    proc = _export(inp, tmp_path / "bad", "--format", "messages", "--tokenizer", str(tmp_path), check=False)
    assert proc.returncode == 2 and "--tokenizer" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--val-fraction", "0.1"], "--val-fraction: only with --format"),
        (["--tokenizer", "x", "--reasoning", "drop"], "--reasoning, --tokenizer: only with --format"),
        (["--format", "messages", "--keep-fields", "id", "messages"], "--keep-fields messages: the exported example"),
        (["--format", "messages", "--val-fraction", "0.1", "--val-size", "3"], "give one"),
        (["--format", "alpaca", "--val-stratify", "source"], "--val-stratify needs"),
    ],
)
def test_export_flags_that_would_be_ignored_or_clash_are_errors(tmp_path: Path, args: list[str], message: str) -> None:
    _jsonl(tmp_path / "ds" / "cfg" / "a.jsonl", _rows(5))
    proc = run_command(
        UPLOAD,
        "--dataset_path",
        str(tmp_path / "ds"),
        "--repo_id",
        "me/set",
        "--dry-run",
        "--license",
        "mit",
        *args,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_validation_split_that_takes_every_row_is_an_error(tmp_path: Path) -> None:
    proc = _export(
        _jsonl(tmp_path / "a.jsonl", _rows(5)), tmp_path / "out", "--format", "messages", "--val-size", "5", check=False
    )
    assert proc.returncode == 2 and "would take all 5 exported rows" in proc.stderr


def _solutions(problems: range) -> list[dict]:
    """Several solutions per problem, each row its own id, the question spelt with other case and spacing."""
    return [
        {
            "id": f"p{p}-s{s}",
            "problem": f"What is {p}  + 1?" if s % 2 else f"what is {p} + 1?",
            "generated_solution": f"<think>try {s}</think>{p + 1}",
        }
        for p in problems
        for s in range(3)
    ]


def _by_question(ds: datasets.DatasetDict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for split, rows in ds.items():
        for m in rows["messages"]:
            out.setdefault(" ".join(m[0]["content"].lower().split()), set()).add(split)
    return out


def test_every_solution_of_a_problem_lands_in_one_split_and_positions_do_not_matter(tmp_path: Path) -> None:
    rows = _solutions(range(100))
    _export(_jsonl(tmp_path / "multi.jsonl", rows), tmp_path / "multi", "--format", "messages", "--val-fraction", "0.2")
    split = _by_question(_load(tmp_path / "multi"))
    assert len(split) == 100 and all(len(s) == 1 for s in split.values())  # no problem in both splits
    assert 5 < sum(s == {"validation"} for s in split.values()) < 40
    per_row = tmp_path / "per-row"  # --split-key id: each row on its own, as asked
    _export(tmp_path / "multi.jsonl", per_row, "--format", "messages", "--val-fraction", "0.2", "--split-key", "id")
    assert any(len(s) == 2 for s in _by_question(_load(per_row)).values())
    no_ids = [{k: v for k, v in r.items() if k != "id"} for r in rows]  # derived positional ids would shift
    _export(_jsonl(tmp_path / "a.jsonl", no_ids), tmp_path / "a", "--format", "messages", "--val-fraction", "0.3")
    top = {"problem": "A new problem?", "generated_solution": "yes"}
    _export(
        _jsonl(tmp_path / "b.jsonl", [top, *no_ids]), tmp_path / "b", "--format", "messages", "--val-fraction", "0.3"
    )
    before, after = _by_question(_load(tmp_path / "a")), _by_question(_load(tmp_path / "b"))
    assert {q: after[q] for q in before} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--val-fraction", "0.2", "--split-key", "idd"], "--split-key idd: no row of"),
        (["--val-fraction", "0.2", "--val-stratify", "sourcee"], "--val-stratify sourcee: no row of"),
        (["--val-fraction", "0.2", "--val-stratify", "score"], "bin it into a few values first"),
        (["--keep-fields", "id", "sorce"], "--keep-fields sorce: no row of"),
        (["--val-fraction", "0.001"], "the validation split would be empty"),
        (["--format", "sharegpt", "--reasoning", "field"], "--reasoning field with --format sharegpt"),
        (["--license", ""], "--license is empty"),
        (["--license", "  "], "--license is empty"),
    ],
)
def test_split_flag_typos_and_unusable_choices_are_errors(tmp_path: Path, args: list[str], message: str) -> None:
    rows = [{**r, "score": k / 7} for k, r in enumerate(_rows(40))]  # a continuous field
    fmt = [] if "--format" in args else ["--format", "messages"]
    proc = _export(_jsonl(tmp_path / "a.jsonl", rows), tmp_path / "out", *fmt, *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    if "no row of" in message:
        assert "a.jsonl" in proc.stderr


def test_keep_fields_keeps_a_field_that_plays_a_role_and_citation_may_be_inline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _export(
        _jsonl(tmp_path / "a.jsonl", _rows(10)),
        out,
        "--format",
        "alpaca",
        "--keep-fields",
        "id",
        "expected_answer",
        "--citation",
        "@misc{x, title={Inline}}",
    )
    train = _load(out)["train"]
    assert train.column_names == ["instruction", "input", "output", "id", "expected_answer"]
    assert train[0]["expected_answer"] == "1"
    assert "@misc{x, title={Inline}}" in (out / "README.md").read_text()
    proc = _export(tmp_path / "a.jsonl", out, "--format", "alpaca", "--citation", "@missing.bib", check=False)
    assert proc.returncode == 2 and "cannot read missing.bib" in proc.stderr


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        *BAD,
        ({"problem": "Q?", "question": "x"}, "no solution or answer"),
        ({"problem": 7, "generated_solution": "a"}, "is int, not text"),
        ({"problem": "Q?", "answer": "4", "reasoning": "<think>x</think>"}, "holds a <think> tag"),
        ({"problem": "Q?", "generated_solution": "Intro text <think>hidden</think> Final 4."}, "inside the reasoning"),
        ({"problem": "Q?", "generated_solution": "<think>a <think> b</think>Final 4."}, "inside the reasoning"),
    ],
)
def test_unusable_rows_are_rejected_with_a_reason(row: dict, reason: str) -> None:
    with pytest.raises(RowError, match=re.escape(reason)):
        turn(row, FieldMap())
