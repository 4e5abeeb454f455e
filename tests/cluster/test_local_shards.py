"""slurm/submit.sh --local (its local executor, no Slurm): sharded dedup and decontamination equal one
run, the merge checks its flags, more shards than rows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, run_command

pytestmark = pytest.mark.cluster

DEDUP, DECON = "selectors/dedup.py", "selectors/decontaminate.py"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_sharded_run_equals_the_unsharded_one_and_the_merge_checks_its_flags(planted, tmp_path: Path) -> None:
    data, _ = planted
    run_command(DEDUP, "--input", str(data), "--output", str(tmp_path / "one.jsonl"), "--keep-by", "problem:length:asc")
    args = ["--input", str(data), "--output", str(tmp_path / "three.jsonl"), "--keep-by", "problem:length:asc"]
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "--local", "dedup", "--shards", "3", "--", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "three.jsonl.parts").glob("part-*-of-00003.signature.npy"))) == 3
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"three.jsonl{suffix}").read_bytes() == (tmp_path / f"one.jsonl{suffix}").read_bytes()
    bad = run_command(DEDUP, *args, "--ngram", "4", "--merge", check=False)
    assert bad.returncode == 2 and "ngram 3 -> 4" in bad.stderr


def test_more_shards_than_rows_and_an_empty_input(tmp_path: Path) -> None:
    data = _write(tmp_path / "three.jsonl", [{"problem": "a b c d"}, {"problem": "A  b c d"}, {"problem": "x y z"}])
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "dedup",
            "--shards",
            "5",
            "--",
            "--input",
            str(data),
            "--output",
            str(tmp_path / "d.jsonl"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["problem"] for r in _lines(tmp_path / "d.jsonl")] == ["a b c d", "x y z"]
    (tmp_path / "empty.jsonl").write_text("")
    run_command(DEDUP, "--input", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "e.jsonl"))
    assert (tmp_path / "e.jsonl").read_text() == "" and (tmp_path / "e.jsonl.dups.jsonl").read_text() == ""


def test_sharded_run_equals_the_unsharded_one(demo_data: Path, tmp_path: Path) -> None:
    args = ["--input", str(demo_data), "--benchmark", str(REPO / "data/benchmarks/demo_bench.jsonl"), "--mode", "flag"]
    run_command(DECON, *args, "--output", str(tmp_path / "one.jsonl"))
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "decontaminate",
            "--shards",
            "2",
            "--",
            *args,
            "--output",
            str(tmp_path / "two.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    for suffix in ("", ".contaminated.jsonl"):
        assert (tmp_path / f"two.jsonl{suffix}").read_bytes() == (tmp_path / f"one.jsonl{suffix}").read_bytes()
    assert len(_lines(tmp_path / "one.jsonl.contaminated.jsonl")) == 2  # demo/1 only wraps a short row
