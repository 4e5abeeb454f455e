"""Resume of a model stage: a requeue with another batch size resumes and merges."""

import json
from pathlib import Path

import pytest
from helpers import run_command

pytestmark = pytest.mark.models

LLM_FILTER = "hpc/filter.py"
MERGE = "hpc/merge_shards.py"


def test_a_requeue_with_another_batch_size_resumes_and_merges(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(json.dumps({"problem": f"What is {i} + {i}?", "expected_answer": str(2 * i)}) + "\n" for i in range(8))
    )
    out = tmp_path / "f.jsonl"
    common = [
        "--input",
        str(data),
        "--inference-model",
        str(tiny_model),
        "--inference-engine",
        "hf",
        "--inference-dtype",
        "fp32",
        "--samples",
        "1",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "--judge",
        "never",
        "--save-per-iteration",
        "2",
        "--output",
        str(out),
    ]
    run_command(LLM_FILTER, *common, "--inference-batch-size", "1", "--shard", "0/2")
    again = run_command(LLM_FILTER, *common, "--inference-batch-size", "4", "--shard", "0/2", check=False)
    assert again.returncode == 0 and "already complete" in again.stderr
    run_command(LLM_FILTER, *common, "--inference-batch-size", "4", "--shard", "1/2")
    run_command(MERGE, "--output", str(out))
    assert len((tmp_path / "f.full.jsonl").read_text().splitlines()) == 8
