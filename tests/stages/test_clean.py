"""The clean stage end to end on CPU: the right rows kept, masked and rejected with their filter, the summary
and plot, sharded equal to unsharded, a dry run that writes no row, a resumed run, and config mistakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from helpers import REPO, run_command

pytestmark = pytest.mark.stages

CLEAN = "selectors/clean.py"
GOOD_EN = (
    "Explain why the sky looks blue on a clear day.",
    "Sunlight is scattered by the molecules of the air, and blue light, which has a shorter wavelength, is "
    "scattered much more than red light, so the sky looks blue from every direction.",
)
GOOD_ZH = (
    "请解释什么是光合作用，并说明它对地球生态系统的重要性。",
    "光合作用是绿色植物利用光能，把二氧化碳和水转化为有机物，并释放氧气的过程。它为几乎所有生物提供了能量来源。",
)
KINDS = {
    "en": GOOD_EN,
    "zh": GOOD_ZH,
    "math": ("Compute $\\frac{13800138000}{2}$.", "Half of it is $6900069000$, since $13800138000 / 2 = 6900069000$."),
    "pii": ("My email is jane.doe@example.com, call me.", "I will write to you at that address tomorrow, thanks."),
    "short": ("Hi", ""),
    "repeat": ("Say it again.", "again and again and again and again and again and again and again and again"),
    "toxic": ("Why is he so annoying?", "Because he is a complete bastard who never listens to anyone at all."),
    "french": ("Pourquoi le ciel est-il bleu pendant la journée ?", "La lumière du soleil est diffusée par l'air."),
}
FLAGS = ["--question-field", "q", "--answer-field", "a", "--pii", "mask", "--toxicity", "drop", "--languages", "en,zh"]


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "rows.jsonl"
    kinds = list(KINDS)
    rows = [{"id": f"r{i}", "kind": kinds[i % len(kinds)]} for i in range(160)]
    for row in rows:
        row["q"], row["a"] = KINDS[row["kind"]]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_keeps_masks_and_rejects_each_row_by_its_filter(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.jsonl"
    proc = run_command(CLEAN, "--input", str(data), *FLAGS, "--output", str(out))
    kept = _lines(out)
    assert {r["kind"] for r in kept} == {"en", "zh", "math", "pii"} and len(kept) == 80
    pii_row = next(r for r in kept if r["kind"] == "pii")
    assert pii_row["q"] == "My email is <EMAIL>, call me." and pii_row["pii"] == ["EMAIL"]
    math_row = next(r for r in kept if r["kind"] == "math")
    assert math_row["q"] == KINDS["math"][0] and math_row["pii"] == []  # LaTeX numbers are not phones
    assert next(r for r in kept if r["kind"] == "zh")["language"] == "zh"
    rejects = {r["record"]["kind"]: r["reason"] for r in _lines(Path(f"{out}.rejects.jsonl"))}
    assert rejects["short"] == "clean: min_words 1 < 3"
    assert rejects["repeat"].startswith("clean: max_top_2gram_char_frac")
    assert rejects["toxic"] == "clean: toxicity bastard"
    assert rejects["french"].startswith("clean: language fr")
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert counts["dropped:min_words"] == counts["dropped:toxicity"] == counts["dropped:language"] == 20
    assert counts["would_drop:max_dup_5gram_char_frac"] == 20 and counts["pii:EMAIL"] == 20
    assert (tmp_path / "clean.filters.png").stat().st_size > 1000
    assert "would drop (fired)" in proc.stdout and "max_top_2gram_char_frac" in proc.stdout


def test_sharded_equals_unsharded_and_dry_run_writes_no_row(data: Path, tmp_path: Path) -> None:
    whole, parts = tmp_path / "whole.jsonl", tmp_path / "parts.jsonl"
    run_command(CLEAN, "--input", str(data), *FLAGS, "--batch-size", "16", "--output", str(whole))
    for i in range(3):
        run_command(CLEAN, "--input", str(data), *FLAGS, "--shard", f"{i}/3", "--output", str(parts))
    merged = run_command("merge_shards", "--output", str(parts))
    assert "filters plot" in merged.stdout
    for suffix in ("", ".rejects.jsonl"):
        assert Path(f"{parts}{suffix}").read_bytes() == Path(f"{whole}{suffix}").read_bytes()
    stats = [json.loads(Path(f"{p}.stats.json").read_text())["counts"] for p in (whole, parts)]
    assert stats[0] == stats[1]
    run_command(CLEAN, "--input", str(data), *FLAGS, "--dry-run-report", "--output", str(whole))
    dry = tmp_path / "whole.dry-run.jsonl"
    assert dry.read_bytes() == b"" and not Path(f"{dry}.rejects.jsonl").exists()
    assert json.loads(Path(f"{dry}.stats.json").read_text())["counts"] == stats[0]
    assert (tmp_path / "whole.dry-run.filters.png").exists()
    assert Path(f"{whole}").read_bytes() == Path(f"{parts}").read_bytes()  # the real output is untouched


def test_a_stopped_run_resumes_without_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    rows = [{"id": i, "q": f"Question {i}: {GOOD_EN[0]}", "a": GOOD_EN[1]} for i in range(8000)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    args = ["--input", str(path), "--question-field", "q", "--answer-field", "a"]
    args += ["--pii", "mask", "--save-per-iteration", "100", "--batch-size", "100"]
    out = tmp_path / "o.jsonl"
    worker = subprocess.Popen(
        [sys.executable, str(REPO / CLEAN), *args, "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = Path(f"{out}.parts") / "part-00000-of-00001.ckpt"
    deadline = time.time() + 120
    while len(list(ckpt.glob("chunk-*.json"))) < 3 and worker.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert worker.poll() is None, "the worker must still be running"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 75  # saved, to be requeued
    proc = run_command(CLEAN, *args, "--output", str(out))
    assert "resuming at row" in proc.stderr
    assert [r["id"] for r in _lines(out)] == list(range(8000))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--rule", "min_wrds=3"], "--rule: unknown rule 'min_wrds'"),
        (["--config", "missing.yaml"], "--config missing.yaml: cannot read"),
        (["--fields", "q,nope"], "no field 'nope'"),
        (["--min-language-score", "0.5"], "needs --languages"),
    ],
)
def test_mistakes_are_one_line(data: Path, tmp_path: Path, flags: list[str], message: str) -> None:
    proc = run_command(
        CLEAN, "--input", str(data), *flags, "--output", str(tmp_path / "x.jsonl"), cwd=tmp_path, check=False
    )
    assert proc.returncode == 2 and message in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1


def test_pii_drop_writes_no_secret_to_the_rejects(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "drop.jsonl"
    run_command(CLEAN, "--input", str(data), "--question-field", "q", "--answer-field", "a", "--pii", "drop",
                "--output", str(out))  # fmt: skip
    assert "jane.doe@example.com" not in Path(f"{out}.rejects.jsonl").read_text()
    rejects = [r for r in _lines(Path(f"{out}.rejects.jsonl")) if r["record"]["kind"] == "pii"]
    assert len(rejects) == 20 and rejects[0]["reason"] == "clean: pii EMAIL 1"
    assert rejects[0]["record"]["q"] == "My email is <EMAIL>, call me."
