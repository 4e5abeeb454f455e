"""The solve-and-judge filter: verdict parsing, votes, math-verify counts, and the stage on real engines."""

import json
from pathlib import Path

import pytest
from helpers import run_command

pytestmark = pytest.mark.stages

FILTER = "hpc/filter.py"


def test_judge_only_counts_are_exact_through_math_verify(judged: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    run_command(
        FILTER,
        "--input",
        str(judged),
        "--judge-only",
        "--candidate-field",
        "candidate",
        "--judge",
        "never",
        "--min-pass-rate",
        "1",
        "--output",
        str(out),
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    every = [json.loads(line) for line in (tmp_path / "kept.full.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in kept) == [f"right{i}" for i in range(5)]
    assert len(every) == 10 and {r["id"]: r["pass_rate"] for r in every}["wrong0"] == 0.0
    assert [r["samples"][0]["correct"] for r in every if r["id"].startswith("vague")] == [None, None]
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert (counts["candidates correct"], counts["candidates incorrect"], counts["candidates undecided"]) == (5, 3, 2)
