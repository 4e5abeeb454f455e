"""Generation from seeds on real tiny models: the vLLM stage, the CLI sharded and merged."""

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers import run_command

from sftkit.data.shards import WHOLE
from sftkit.data.sources import InputSpec, open_source
from sftkit.engines.base import Sampling
from sftkit.generate.seed import DEFAULT_PROMPT, SeedGenerator
from sftkit.runner.stage import run_stage

pytestmark = pytest.mark.models


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "problem": f"What is {i} + {i + 3}?", "expected_answer": str(2 * i + 3)}) + "\n"
            for i in range(12)
        )
    )
    return path


def test_generation_stage_keeps_parseable_output_and_quarantines_the_rest(
    vllm_engine, seeds: Path, tmp_path: Path
) -> None:
    sampling = Sampling(max_tokens=48, temperature=0.5, n=3, seed=3)
    step = SeedGenerator(
        vllm_engine,
        sampling,
        DEFAULT_PROMPT,
        "problem",
        "expected_answer",
        "id",
        {**vllm_engine.describe(), "sampling": sampling.to_json()},
    )
    out = tmp_path / "gen.jsonl"
    run = run_stage(
        stage="generate",
        source=open_source(InputSpec(str(seeds))),
        shard=WHOLE,
        output=out,
        settings={"t": 1},
        process=step,
        every=5,
        batch_size=5,
        on_bad_record="error",
    )
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
    common = [
        "--model",
        str(tiny_model),
        "--engine",
        "hf",
        "--engine-batch-size",
        "1",
        "--dtype",
        "fp32",
        "--input_file",
        str(seeds),
        "--max_tokens",
        "40",
        "--temperature",
        "0",
        "--save-per-iteration",
        "4",
    ]
    run_command("hpc/generate.py", *common, "--output_file", str(tmp_path / "one.jsonl"))
    for i in range(2):
        run_command("hpc/generate.py", *common, "--shard", f"{i}/2", "--output", str(tmp_path / "two.jsonl"))
    run_command("hpc/merge_shards.py", "--output", str(tmp_path / "two.jsonl"))
    one, two = (tmp_path / "one.jsonl").read_text(), (tmp_path / "two.jsonl").read_text()
    assert one == two and one


def test_general_stage_on_the_tiny_model_parses_every_sample_as_a_json_list(
    tiny_model: Path, seeds: Path, tmp_path: Path
) -> None:
    """The engine path of the general stage: a template over the rows, --n samples each, --parse json-list. The
    tiny model was trained to answer the seed prompt in tags, never in a JSON list, so here every sample is a
    counted reject with its reason (the fan-out itself is checked against the scripted server in
    tests/stages/test_generate_general.py); --keep-input writes the rows read, so the run keeps something."""
    (tmp_path / "prompt.txt").write_text("Write new problems like this one as a JSON list: {{problem}}")
    out = tmp_path / "gen.jsonl"
    result = run_command(
        "hpc/generate.py",
        "--model",
        str(tiny_model),
        "--engine",
        "hf",
        "--engine-batch-size",
        "4",
        "--dtype",
        "fp32",
        "--input",
        str(seeds),
        "--max-samples",
        "4",
        "--n",
        "2",
        "--max-tokens",
        "24",
        "--temperature",
        "0.7",
        "--prompt-file",
        str(tmp_path / "prompt.txt"),
        "--parse",
        "json-list:question,answer",
        "--keep-input",
        "--output",
        str(out),
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    generated = [r for r in rows if "parent_id" in r]
    assert len(rows) - len(generated) == 4 and "generated 8" in result.stderr
    assert len(rejects) + len(generated) >= 8 and all(r["record"]["parent_id"].startswith("s") for r in rejects)
    assert {r["reason"] for r in rejects} <= {
        "no JSON list",
        "cut at the token limit (finish_reason=length)",
        "reasoning never closed",
        "empty generation",
        "list item lacks a string 'question' and 'answer'",
        "list item is not valid JSON",
        "list item is neither an object nor a string",
    }
    assert all(r["generation"]["engine"] == "hf" and r["lineage"]["sample"] in (0, 1) for r in generated)
