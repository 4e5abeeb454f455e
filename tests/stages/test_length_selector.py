import json
from pathlib import Path

import orjson
import pytest
from helpers import run_command

pytestmark = pytest.mark.stages

SELECTOR = "selectors/length_selector.py"


def test_cli_with_predecessor_flags_and_a_bare_output_name(demo_data: Path, tmp_path: Path) -> None:
    proc = run_command(
        SELECTOR,
        "--input",
        str(demo_data),
        "--dataset_spec",
        "default:train",
        "--question_field",
        "problem",
        "--answer_field",
        "generated_solution",
        "--solution_field",
        "generated_solution",
        "--total_samples",
        "250",
        "--num_bins",
        "8",
        "--curve_sharpness",
        "3.0",
        "--sample_size_for_stats",
        "1000",
        "--shuffle",
        "--output",
        "selected.json",
        cwd=tmp_path,
    )
    assert "length bins" in proc.stdout and "quota" in proc.stdout
    selected = json.loads((tmp_path / "selected.json").read_text())
    assert len(selected) == 250
    source = {f"openmath_demo-{i}": json.loads(line) for i, line in enumerate(demo_data.read_text().splitlines())}
    for rec in selected:  # every original field kept, plus the stable derived id
        assert {k: v for k, v in rec.items() if k != "id"} == source[rec["id"]]
    stats = json.loads((tmp_path / "selected.json.stats.json").read_text())
    assert sum(b["quota"] for b in stats["bins"]) == 250 and len(stats["bins"]) == 8
    assert [b["selected"] for b in stats["bins"]] == [b["quota"] for b in stats["bins"]]
    assert (tmp_path / "selected.lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_hyphenated_flags_seed_reproducibility_and_order(demo_data: Path, tmp_path: Path) -> None:
    def ids(*extra: str, name: str) -> list[str]:
        run_command(
            SELECTOR, "--input", str(demo_data), "--total-samples", "100", "--output", str(tmp_path / name), *extra
        )
        return [r["id"] for r in orjson.loads((tmp_path / name).read_bytes())]

    first, again = ids("--seed", "5", name="a.json"), ids("--seed", "5", name="b.json")
    other, shuffled = ids("--seed", "6", name="c.json"), ids("--seed", "5", "--shuffle", name="d.json")
    assert first == again and first != other
    assert sorted(shuffled) == sorted(first) and shuffled != first
    assert first == sorted(first, key=lambda i: int(i.rsplit("-", 1)[1]))  # source order by default


def test_parquet_in_and_out_match_jsonl(demo_data: Path, tmp_path: Path) -> None:
    from sftkit.synthetic import write_dataset

    write_dataset(tmp_path / "demo.parquet", 2000)
    run_command(
        SELECTOR,
        "--input",
        str(tmp_path / "demo.parquet"),
        "--total_samples",
        "120",
        "--output",
        str(tmp_path / "sel.parquet"),
    )
    run_command(SELECTOR, "--input", str(demo_data), "--total_samples", "120", "--output", str(tmp_path / "sel.jsonl"))
    import datasets

    from_parquet = datasets.load_dataset("parquet", data_files=str(tmp_path / "sel.parquet"), split="train")
    from_jsonl = [orjson.loads(line) for line in (tmp_path / "sel.jsonl").read_bytes().splitlines()]
    assert len(from_parquet) == 120
    assert [r["generated_solution"] for r in from_parquet] == [r["generated_solution"] for r in from_jsonl]


def test_token_lengths_with_a_local_tokenizer(demo_data: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(sorted({"the", "answer", "is", "step", "by"}))}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    data = tmp_path / "words.jsonl"
    data.write_text("".join(json.dumps({"generated_solution": "step " * n}) + "\n" for n in range(1, 61)))
    run_command(
        SELECTOR,
        "--input",
        str(data),
        "--total_samples",
        "12",
        "--num_bins",
        "3",
        "--length-unit",
        "tokens",
        "--tokenizer",
        str(tmp_path / "tok"),
        "--output",
        str(tmp_path / "t.json"),
    )
    stats = json.loads((tmp_path / "t.json.stats.json").read_text())
    assert stats["unit"] == "tokens"
    assert [round(b["to"]) for b in stats["bins"][:2]] == [21, 40]  # word counts 1..60 in thirds


def test_bad_rows_stop_the_run_or_go_to_a_rejects_file(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    good = [json.dumps({"generated_solution": "x" * n}) for n in range(1, 31)]
    data.write_text(
        "\n".join([*good[:10], '{"generated_solution": ', *good[10:20], '{"generated_solution": ""}', *good[20:]])
        + "\n"
    )
    proc = run_command(
        SELECTOR, "--input", str(data), "--total_samples", "5", "--output", str(tmp_path / "o.json"), check=False
    )
    assert proc.returncode == 2 and f"{data}:11" in proc.stderr and "--on-bad-record skip" in proc.stderr
    assert not (tmp_path / "o.json").exists()
    run_command(
        SELECTOR,
        "--input",
        str(data),
        "--total_samples",
        "5",
        "--on-bad-record",
        "skip",
        "--output",
        str(tmp_path / "o.json"),
    )
    rejects = [json.loads(line) for line in (tmp_path / "o.json.rejects.jsonl").read_text().splitlines()]
    assert [(r["location"], r["reason"][:14]) for r in rejects] == [
        (f"{data}:11", "malformed JSON"),
        (f"{data}:22", "field 'generat"),
    ]
    assert json.loads((tmp_path / "o.json.stats.json").read_text())["rejects"] == 2


@pytest.mark.parametrize("missing", ["--answer_field", "--length-field"])
def test_a_wrong_field_name_lists_the_available_fields(demo_data: Path, tmp_path: Path, missing: str) -> None:
    proc = run_command(
        SELECTOR, "--input", str(demo_data), missing, "solution", "--output", str(tmp_path / "o.json"), check=False
    )
    assert proc.returncode == 2
    assert "no field 'solution'" in proc.stderr and "generated_solution" in proc.stderr
