"""The card a Hub user trusts, through upload/export_sft.py: checked metadata, language from the data, intended
use, upstream licenses, owner and dates, every count filled in, no local path."""

import json
from pathlib import Path

import pytest
from helpers import run_command
from huggingface_hub import DatasetCard

pytestmark = pytest.mark.stages

EXPORT = "upload/export_sft.py"


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _chinese(n: int) -> list[dict]:
    return [
        {"id": f"z{i}", "problem": f"计算 {i} 加 {i} 的和是多少？", "generated_solution": f"答案是 {2 * i}。"}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("flag", "value", "nearest"),
    [("--license", "CC-BY-4.0", "cc-by-4.0"), ("--language", "english", "en"), ("--source-license", "a/b=MIT", "mit")],
)
def test_a_value_the_hub_does_not_list_stops_before_anything_is_written(
    tmp_path: Path, flag: str, value: str, nearest: str
) -> None:
    inp = _write(tmp_path / "rows.jsonl", _chinese(3))
    license_ = () if flag == "--license" else ("--license", "mit")
    out = tmp_path / "out"
    args = ["--input", str(inp), "--output", str(out), "--format", "messages", *license_, flag, value]
    proc = run_command(EXPORT, *args, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"did you mean '{nearest}'?" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_the_card_says_language_use_owner_dates_upstream_licenses_and_every_count(tmp_path: Path) -> None:
    (tmp_path / "results" / "demo" / "tiny-model").mkdir(parents=True)  # a model the stages ran with, relative
    inp = _write(tmp_path / "results" / "demo" / "clean.jsonl", _chinese(383))
    stats = {
        "stage": "decontaminate",
        "output": "results/demo/clean.jsonl",
        "input": "BAAI/COIG-CQIA",
        "rows_in": 385,
        "written": 383,
        "contaminated": 2,
        "settings": {"mode": "drop", "model": "results/demo/tiny-model", "benchmark": "results/demo/bench.jsonl"},
    }
    (tmp_path / "results" / "demo" / "clean.jsonl.stats.json").write_text(json.dumps(stats))
    out = tmp_path / "out"
    args = ["--input", str(inp), "--output", str(out), "--format", "sharegpt", "--license", "cc-by-nc-4.0"]
    args += ["--source-license", "BAAI/COIG-CQIA=cc-by-nc-4.0", "--dataset-owner", "Math Team"]
    (out).mkdir()
    (out / "README.md").write_text("# old\n\n- Created: 2025-01-02\n")  # our earlier card: its date stays
    run_command(EXPORT, *args, cwd=tmp_path)
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["language"] == ["zh"] and meta["license"] == "cc-by-nc-4.0"
    assert meta["source_datasets"] == ["BAAI/COIG-CQIA"] and meta["size_categories"] == ["n<1K"]
    text = card.text
    assert "## Intended use" in text and "LLaMA-Factory" in text
    assert "- Owner: Math Team" in text and "- Created: 2025-01-02" in text and "- Modified: 20" in text
    assert "| [`BAAI/COIG-CQIA`](https://huggingface.co/datasets/BAAI/COIG-CQIA) | `cc-by-nc-4.0` |" in text
    assert "| `decontaminate` | `clean.jsonl` | 385 → 383 | tiny-model |" in text and "→ ?" not in text
    assert "results/demo" not in text and 'benchmark="bench.jsonl"' in text
    run_command(EXPORT, *args[:-4], "--language", "zh", "en", cwd=tmp_path)  # given: as given, no owner flag
    card = DatasetCard.load(out / "README.md")
    assert card.data.to_dict()["language"] == ["zh", "en"] and "- Owner: your-username" in card.text
    assert "not stated (see its card; give `--source-license ID=LICENSE`)" in card.text
