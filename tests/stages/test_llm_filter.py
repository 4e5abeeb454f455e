"""The solve-and-judge filter: verdict parsing, votes, math-verify counts, and the stage on real engines."""

import json
from collections import Counter
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


def test_pass_rate_plot_counts_the_measured_rates(tmp_path: Path) -> None:
    """Rows of four candidates, k of them right: the plot's bins are the rows' pass rates, undecided rows
    (pass_rate null) are left out of the bins and counted in the title."""
    from sftkit.report import pass_rate_bin, split_pass_rate_bins

    rows = [
        {
            "id": f"r{k}-{j}",
            "problem": f"What is {j} + 1?",
            "expected_answer": str(j + 1),
            "candidate": [f"\\boxed{{{j + 1}}}"] * k + [f"\\boxed{{{j + 50}}}"] * (4 - k),
        }
        for k in range(5)
        for j in range(k + 1)
    ] + [{"id": "vague", "problem": "What is 2 + 2?", "expected_answer": "4", "candidate": "It is even."}]
    data = tmp_path / "candidates.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "kept.jsonl"
    flags = ["--judge-only", "--candidate-field", "candidate", "--judge", "never"]
    band = ["--min-pass-rate", "0.25", "--max-pass-rate", "0.75"]
    proc = run_command(FILTER, "--input", str(data), *flags, *band, "--output", str(out))
    png = tmp_path / "kept.pass_rates.png"
    assert png.read_bytes().startswith(b"\x89PNG") and str(png) in proc.stdout
    assert "pass_rate_bin" not in proc.stdout
    every = [json.loads(line) for line in (tmp_path / "kept.full.jsonl").read_text().splitlines()]
    rates = [r["pass_rate"] for r in every]
    assert sorted(r for r in rates if r is not None) == sorted(k / 4 for k in range(5) for _ in range(k + 1))
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    _, expected = split_pass_rate_bins(Counter(pass_rate_bin(r) for r in rates if r is not None))
    assert stats["pass_rate_bins"] == expected
    assert sum(stats["pass_rate_bins"]) == len(rows) - 1 and stats["counts"]["undecided (no decided candidate)"] == 1
