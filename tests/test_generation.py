"""Generation from seeds: JSON extraction, quarantine, and the stage end to end on real engines."""

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_script

from sftkit.data.shards import WHOLE
from sftkit.data.sources import InputSpec, open_source
from sftkit.engines.base import Sampling
from sftkit.generation import DEFAULT_PROMPT, SeedGenerator, extract_json_object, parse_generated
from sftkit.prompts import fill
from sftkit.stage import run_stage


@pytest.mark.parametrize(("text", "expected"), [
    ('{"question": "q", "answer": "1"}', {"question": "q", "answer": "1"}),
    ('Sure!\n```json\n{"question": "q", "answer": "2"}\n```\nDone.', {"question": "q", "answer": "2"}),
    ('Reasoning first... so the result: {"question": "q", "answer": 3}', {"question": "q", "answer": 3}),
    ('{"a": {"question": "inner"}} then {"question": "last", "answer": "4"}', {"question": "last", "answer": "4"}),
    ("no json here {oops", None),
])
def test_json_is_extracted_from_fences_bare_text_or_a_trailing_object(text: str, expected: dict | None) -> None:
    assert extract_json_object(text) == expected


def test_bad_generations_get_a_reason() -> None:
    seed = "What is 3 + 4?"
    assert parse_generated("", seed) == (None, "empty generation")
    assert parse_generated("I cannot", seed)[1] == "no JSON object in the generation"
    assert parse_generated('{"question": "x"}', seed)[1] == "JSON object lacks a string 'question' and 'answer'"
    assert parse_generated('{"question": " ", "answer": "1"}', seed)[1] == "empty question or answer"
    assert parse_generated('{"question": "what is 3 +  4?", "answer": "7"}', seed)[1] == "copies its seed problem"
    assert parse_generated('{"question": "What is 10 + 5?", "answer": 15}', seed) == (
        {"question": "What is 10 + 5?", "answer": "15"}, None)


def test_prompt_placeholders_are_filled_once() -> None:
    tricky = "What is {{answer}}? Use \\boxed{} and {\"json\": 1}."
    text = fill(DEFAULT_PROMPT, {"question": tricky, "answer": "42"})
    assert tricky in text and "Answer: 42" in text  # the question's own {{answer}} is not replaced


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "problem": f"What is {i} + {i + 3}?", "expected_answer":
                                        str(2 * i + 3)}) + "\n" for i in range(12)))
    return path


def test_generation_stage_keeps_parseable_output_and_quarantines_the_rest(vllm_engine, seeds: Path,
                                                                          tmp_path: Path) -> None:
    sampling = Sampling(max_tokens=48, temperature=0.5, n=3, seed=3)
    step = SeedGenerator(vllm_engine, sampling, DEFAULT_PROMPT, "problem", "expected_answer", "id",
                         {**vllm_engine.describe(), "sampling": sampling.to_json()})
    out = tmp_path / "gen.jsonl"
    run = run_stage(stage="generate", source=open_source(InputSpec(str(seeds))), shard=WHOLE, output=out,
                    settings={"t": 1}, process=step, every=5, batch_size=5, on_bad_record="error")
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rejects_file = Path(f"{out}.rejects.jsonl")
    rejected = [json.loads(line) for line in rejects_file.read_text().splitlines()] if rejects_file.exists() else []
    counts = run.marker["counts"]
    assert counts["generated"] == 36 and len(kept) + len(rejected) == 36 and counts["kept"] == len(kept)
    assert kept, "the tiny model was trained to answer this prompt in JSON"
    for rec in kept:
        assert rec["seed_id"].startswith("s") and rec["question"] and rec["answer"]
        assert rec["generation"]["engine"] == "vllm" and rec["generation"]["sampling"]["n"] == 3
    reasons = Counter(r["reason"] for r in rejected)
    assert sum(v for k, v in counts.items() if k.startswith("rejected: ")) == sum(reasons.values())
    assert all(r["record"]["seed_id"] and "text" in r["record"] for r in rejected)


def test_generate_cli_sharded_runs_merge_to_the_single_run(tiny_model: Path, seeds: Path, tmp_path: Path) -> None:
    common = ["--model", str(tiny_model), "--engine", "hf", "--engine-batch-size", "1", "--dtype", "fp32",
              "--input_file", str(seeds), "--max_tokens", "40", "--temperature", "0", "--save-per-iteration", "4"]
    run_script("hpc/generate_from_seed.py", *common, "--output_file", str(tmp_path / "one.jsonl"))
    for i in range(2):
        run_script("hpc/generate_from_seed.py", *common, "--shard", f"{i}/2", "--output", str(tmp_path / "two.jsonl"))
    run_script("hpc/merge_shards.py", "--output", str(tmp_path / "two.jsonl"))
    one, two = (tmp_path / "one.jsonl").read_text(), (tmp_path / "two.jsonl").read_text()
    assert one == two and one
