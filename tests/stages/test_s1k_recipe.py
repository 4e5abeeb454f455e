"""recipes/s1k.yaml end to end with the local executor, on rows shaped exactly like simplescaling/s1K-1.1's
(data/s1k/s1K-1.1.sample.jsonl): dedup, then messages whose assistant turn carries the DeepSeek-R1 trace as
reasoning_content, checked through Qwen3's real chat template (built offline in place of the recipe's Hub id)."""

import json
import subprocess
from pathlib import Path

import datasets
import pytest
import yaml
from helpers import REPO, template_tokenizer
from huggingface_hub import DatasetCard

pytestmark = pytest.mark.stages

RECIPE = REPO / "recipes" / "s1k.yaml"
SAMPLE = REPO / "data" / "s1k" / "s1K-1.1.sample.jsonl"
S1K_FIELDS = {
    "solution",
    "question",
    "cot_type",
    "source_type",
    "metadata",
    "cot",
    "gemini_thinking_trajectory",
    "gemini_attempt",
    "deepseek_thinking_trajectory",
    "deepseek_attempt",
    "gemini_grade",
    "gemini_grade_reason",
    "deepseek_grade",
    "deepseek_grade_reason",
}


def test_the_sample_rows_have_exactly_the_s1k_fields() -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert rows and all(set(r) == S1K_FIELDS for r in rows)


def test_the_s1k_recipe_runs_locally_to_messages_with_reasoning(tmp_path: Path) -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    dedup, upload = recipe["stages"]
    assert dedup["input"] == "simplescaling/s1K-1.1" and upload["args"]["tokenizer"] == "Qwen/Qwen3-8B"
    dedup["input"] = str(SAMPLE)  # offline: the sample rows and the real Qwen3 template, built here
    upload["args"]["tokenizer"] = template_tokenizer(tmp_path, "qwen3")
    recipe["workdir"] = str(tmp_path / "run")
    path = tmp_path / "s1k.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "pipeline", str(path), "--local"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dataset = tmp_path / "run" / "dataset"
    train = datasets.load_dataset(
        "parquet", data_files=str(dataset / "data/s1k/train.parquet"), split="train", cache_dir=str(tmp_path / "c")
    )
    rows: dict[str, dict] = {}
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        rows.setdefault(json.loads(line)["question"], json.loads(line))  # dedup keeps the first of a question
    assert len(train) == 6  # 8 rows: one duplicate question out, one trace quoting <think> rejected
    for example in train:
        user, assistant = example["messages"]
        source = rows[user["content"]]
        assert assistant["content"] == source["deepseek_attempt"]
        assert assistant["reasoning_content"] == source["deepseek_thinking_trajectory"].strip()
        assert example["cot_type"] == source["cot_type"] and example["deepseek_grade"] == source["deepseek_grade"]
    rejects = [json.loads(line) for line in (dataset / "s1k.rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ["the reasoning field holds a <think> tag itself"]
    card = DatasetCard.load(dataset / "README.md")
    assert card.data.to_dict()["language"] == ["en"] and card.data.to_dict()["license"] == "mit"
    rendered = card.text.split("```text\n", 1)[1].split("```", 1)[0]
    assert "<|im_start|>assistant\n<think>\n" in rendered and "**Final Answer**" in rendered
    assert str(tmp_path) not in card.text
