"""The score stage on a real tiny model (the engine path) with the length limit through its chat template.

A tiny model writes no rubric scores: every judgement is undecided (never a zero), no row is kept, and a
run that keeps nothing stops with exit 2 after writing its rejects, each with the judge's reason."""

import json
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl, run_command, write_jsonl

pytestmark = pytest.mark.models


def test_tiny_judge_is_undecided_and_long_rows_never_reach_it(tmp_path: Path, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    rows = [{"id": f"s{i}", "question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}."} for i in range(3)]
    rows.append({"id": "long", "question": "Count to two hundred.", "answer": " ".join(map(str, range(1, 201)))})
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    lengths = [
        len(tok(tok.apply_chat_template([{"role": "user", "content": r["question"]},
                                         {"role": "assistant", "content": r["answer"]}], tokenize=False),
                add_special_tokens=False)["input_ids"])
        for r in rows
    ]  # fmt: skip
    limit = max(lengths[:3])
    assert lengths[3] > limit
    out = tmp_path / "scored.jsonl"
    proc = run_command(
        "hpc/score.py", "--input", str(data), "--rubric", str(REPO / "rubrics" / "sft_five.yaml"),
        "--judgement-model", str(tiny_model), "--judgement-engine", "hf", "--judgement-dtype", "fp32",
        "--judge-max-tokens", "16", "--max-length-tokens", str(limit), "--tokenizer", str(tiny_model),
        "--output", str(out), check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "Nothing was kept" in proc.stderr
    rejects = {r["record"]["id"]: r for r in read_jsonl(Path(f"{out}.rejects.jsonl"))}
    assert sorted(rejects) == ["long", "s0", "s1", "s2"]
    assert rejects["long"]["reason"] == f"conversation is {lengths[3]:,} tokens, over --max-length-tokens {limit:,}"
    assert "scores" not in rejects["long"]["record"]  # no judge saw it
    judge = str(tiny_model)
    for rid in ("s0", "s1", "s2"):
        row = rejects[rid]["record"]
        assert row["score_totals"] == {judge: None} and row["score"] is None and row["score_decided"] == 0
        assert row["score_reasons"][judge]  # its reason kept: cut at 16 tokens, or no scores
        assert rejects[rid]["reason"].startswith("no judge decided")
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert (counts["too long"], counts["no judge decided"]) == (1, 3)
