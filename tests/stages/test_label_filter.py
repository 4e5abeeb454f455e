import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from helpers import REPO, run_command

pytestmark = pytest.mark.stages

FILTER = "selectors/label_filter.py"
MERGE = "hpc/merge_shards.py"


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _expected(
    data: Path, max_rate: float, min_rate: float = 0.0, problem_type: str | None = "has_answer_extracted"
) -> list[dict]:
    """A plain reference: parse every label with float(), filter, sort globally."""
    rows = []
    for i, rec in enumerate(_lines(data)):
        label = rec["pass_rate_72b_tir"]
        if problem_type and rec["problem_type"] != problem_type:
            continue
        if label != "n/a" and min_rate <= float(label) <= max_rate:
            rows.append((float(label), -len(rec["generated_solution"]), i, {**rec, "id": f"{data.stem}-{i}"}))
    return [r[-1] for r in sorted(rows, key=lambda r: r[:3])]


def test_filter_keeps_the_right_rows_sorted_globally(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    proc = run_command(
        FILTER,
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.25",
        "--min-pass-rate",
        "0.05",
        "--save-per-iteration",
        "333",
        "--output",
        str(out),
    )
    expected = _expected(demo_data, 0.25, 0.05)
    assert len(expected) > 50
    assert _lines(out) == expected  # includes rows of the last partial chunk (2000 % 333 != 0)
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    labels = [r["pass_rate_72b_tir"] for r in _lines(demo_data) if r["problem_type"] == "has_answer_extracted"]
    assert stats["counts"]["no_label"] == labels.count("n/a") > 0
    assert stats["counts"]["other_problem_type"] == 2000 - len(labels) > 0
    assert stats["counts"]["kept"] == len(expected) and stats["counts"]["rows"] == 2000
    assert "no label ('n/a')" in proc.stdout


def test_only_rows_with_an_extracted_answer_by_default_when_the_data_says(demo_data: Path, tmp_path: Path) -> None:
    """The predecessor kept only has_answer_extracted rows; 'any' keeps every type; no field, no filter."""
    types = {r["problem_type"] for r in _lines(demo_data)}
    assert len(types) > 1
    run_command(
        FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.5", "--output", str(tmp_path / "d.jsonl")
    )
    run_command(
        FILTER,
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.5",
        "--problem-type",
        "any",
        "--output",
        str(tmp_path / "any.jsonl"),
    )
    assert _lines(tmp_path / "d.jsonl") == _expected(demo_data, 0.5)
    assert _lines(tmp_path / "any.jsonl") == _expected(demo_data, 0.5, problem_type=None)
    assert len(_lines(tmp_path / "any.jsonl")) > len(_lines(tmp_path / "d.jsonl"))
    untyped = tmp_path / "untyped.jsonl"
    untyped.write_bytes(
        b"".join(orjson.dumps({k: v for k, v in r.items() if k != "problem_type"}) + b"\n" for r in _lines(demo_data))
    )
    run_command(FILTER, "--input", str(untyped), "--filter-by-pass-rate", "0.5", "--output", str(tmp_path / "u.jsonl"))
    assert len(_lines(tmp_path / "u.jsonl")) == len(_lines(tmp_path / "any.jsonl"))
    mixed = tmp_path / "mixed"  # a first file without the field must not turn the filter off for the rest
    mixed.mkdir()
    (mixed / "a.jsonl").write_bytes(untyped.read_bytes())
    (mixed / "b.jsonl").write_bytes(demo_data.read_bytes())
    run_command(FILTER, "--input", str(mixed), "--filter-by-pass-rate", "0.5", "--output", str(tmp_path / "m.jsonl"))
    assert len(_lines(tmp_path / "m.jsonl")) == len(_lines(tmp_path / "u.jsonl")) + len(_lines(tmp_path / "d.jsonl"))


def test_problem_type_filter_counts_what_it_excludes(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    run_command(
        FILTER,
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "1",
        "--problem-type",
        "has_answer_extracted",
        "--output",
        str(out),
    )
    kept = json.loads(out.read_text())
    assert kept and {r["problem_type"] for r in kept} == {"has_answer_extracted"}
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert counts["other_problem_type"] + counts["kept"] + counts["no_label"] == 2000


@pytest.mark.parametrize(
    "split", [["--shard", "{i}/3"], ["--start-from-percentage", "{a}", "--end-at-percentage", "{b}"]]
)
def test_sharded_runs_merge_to_the_single_run_output(demo_data: Path, tmp_path: Path, split: list[str]) -> None:
    single = tmp_path / "single.jsonl"
    run_command(FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--output", str(single))
    sharded = tmp_path / "sharded.jsonl"
    cuts = ["0", "0.123", "0.5", "1"]
    for i in range(3):
        args = [a.format(i=i, a=cuts[i], b=cuts[i + 1]) for a in split]
        run_command(FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", *args, "--output", str(sharded))
    assert not sharded.exists()  # shards never write the final output themselves
    run_command(MERGE, "--output", str(sharded))
    assert sharded.read_bytes() == single.read_bytes()


def test_pass_rate_plot_counts_every_labelled_row_and_sharding_draws_the_same(tmp_path: Path) -> None:
    """The PNG where the thresholds are chosen: rows per bin of every labelled row of the wanted type (kept
    or not), from counts the shards add up, so two shards merged draw the very same picture."""
    from sftkit.report import PASS_RATE_BINS, pass_rate_bin, split_pass_rate_bins
    from sftkit.synthetic import write_dataset

    data = write_dataset(tmp_path / "synth.jsonl", 3000, seed=3)
    flags = ["--input", str(data), "--filter-by-pass-rate", "0.3", "--min-pass-rate", "0.1"]
    single = tmp_path / "single.jsonl"
    proc = run_command(FILTER, *flags, "--output", str(single))
    png = tmp_path / "single.pass_rates.png"
    assert png.read_bytes().startswith(b"\x89PNG") and str(png) in proc.stdout
    stats = json.loads(Path(f"{single}.stats.json").read_text())
    bins, counts = stats["pass_rate_bins"], stats["counts"]
    assert stats["pass_rate_png"] == str(png) and len(bins) == PASS_RATE_BINS
    assert not any(k.startswith("pass_rate_bin") for k in counts)  # 20 bins stay out of the tables
    assert sum(bins) + counts["no_label"] + counts["other_problem_type"] == counts["rows"] == 3000
    rates = [
        float(r["pass_rate_72b_tir"])
        for r in _lines(data)
        if r["problem_type"] == "has_answer_extracted" and r["pass_rate_72b_tir"] != "n/a"
    ]
    assert bins == split_pass_rate_bins(Counter(pass_rate_bin(x) for x in rates))[1]
    assert sum(bins[2:6]) == counts["kept"]  # (0.1, 0.3]: the band's edges are bin edges
    sharded = tmp_path / "sharded.jsonl"
    for i in range(2):
        run_command(FILTER, *flags, "--shard", f"{i}/2", "--output", str(sharded))
    merged = run_command("merge_shards", "--output", str(sharded))
    assert str(tmp_path / "sharded.pass_rates.png") in merged.stdout and "pass_rate_bin" not in merged.stdout
    assert json.loads(Path(f"{sharded}.stats.json").read_text())["pass_rate_bins"] == bins
    assert (tmp_path / "sharded.pass_rates.png").read_bytes() == png.read_bytes()


def test_merge_refuses_naming_missing_shards_then_completes(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    for i in (0, 2):
        run_command(
            FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--shard", f"{i}/4", "--output", str(out)
        )
    proc = run_command(MERGE, "--output", str(out), check=False)
    assert proc.returncode == 2 and "shards 1, 3 of 4 are missing" in proc.stderr
    assert not out.exists()
    for i in (1, 3):
        run_command(
            FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--shard", f"{i}/4", "--output", str(out)
        )
    run_command(MERGE, "--output", str(out))
    import datasets

    merged = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert merged.to_list() == _expected(demo_data, 0.4)
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["shards"] == 4 and stats["records"] == len(merged) and stats["rows_in"] == 2000


def test_rerun_with_other_settings_is_refused_unless_overwritten(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    run_command(FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--output", str(out))
    again = run_command(FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--output", str(out))
    assert "already complete" in again.stderr
    proc = run_command(
        FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.2", "--output", str(out), check=False
    )
    assert proc.returncode == 2 and "different settings" in proc.stderr
    run_command(FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.2", "--overwrite", "--output", str(out))
    assert _lines(out) == _expected(demo_data, 0.2)


def test_garbage_labels_are_quarantined_with_a_count(tmp_path: Path) -> None:
    data = tmp_path / "labels.jsonl"
    labels = ["0.25", "bogus", "n/a", 0.5, "1", "2.0", "0.0625"]
    data.write_text(
        "".join(
            json.dumps({"pass_rate_72b_tir": v, "generated_solution": "s" * (i + 1)}) + "\n"
            for i, v in enumerate(labels)
        )
    )
    proc = run_command(
        FILTER, "--input", str(data), "--filter-by-pass-rate", "0.5", "--output", str(tmp_path / "o.jsonl"), check=False
    )
    assert proc.returncode == 2 and f"{data}:2" in proc.stderr and "'bogus' is not a number" in proc.stderr
    run_command(
        FILTER,
        "--input",
        str(data),
        "--filter-by-pass-rate",
        "0.5",
        "--on-bad-record",
        "skip",
        "--output",
        str(tmp_path / "o.jsonl"),
    )
    assert [r["pass_rate_72b_tir"] for r in _lines(tmp_path / "o.jsonl")] == ["0.0625", "0.25", 0.5]
    rejects = _lines(tmp_path / "o.jsonl.rejects.jsonl")
    assert [r["location"].rsplit(":", 1)[1] for r in rejects] == ["2", "6"]
    counts = json.loads((tmp_path / "o.jsonl.stats.json").read_text())["counts"]
    assert counts == {"rows": 7, "kept": 3, "bad_label": 2, "no_label": 1, "above_max": 1}


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_sigkill_mid_shard_then_rerun_loses_and_duplicates_nothing(big_jsonl: Path, tmp_path: Path) -> None:
    reference = tmp_path / "ref.jsonl"
    args = [
        "--input",
        str(big_jsonl),
        "--filter-by-pass-rate",
        "0.5",
        "--save-per-iteration",
        "100",
        "--batch-size",
        "100",
    ]
    run_command(FILTER, *args, "--output", str(reference))
    out = tmp_path / "killed.jsonl"
    ckpt = Path(f"{out}.parts") / "part-00000-of-00001.ckpt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, str(REPO / FILTER), *args, "--output", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while len(list(ckpt.glob("chunk-*.json"))) < 15 and time.time() < deadline and worker.poll() is None:
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done_before_kill = len(list(ckpt.glob("chunk-*.json")))
    assert worker.returncode == -signal.SIGKILL
    assert 15 <= done_before_kill < 600, "the worker must die mid-shard"
    assert not out.exists() and not (Path(f"{out}.parts") / "part-00000-of-00001.done").exists()
    resumed = run_command(FILTER, *args, "--output", str(out))
    assert "resuming at row" in resumed.stderr
    assert out.read_bytes() == reference.read_bytes()
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["counts"]["rows"] == 60_000  # every row counted exactly once across both runs


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_sigusr1_saves_a_checkpoint_and_exits_75_for_requeue(big_jsonl: Path, tmp_path: Path) -> None:
    args = [
        "--input",
        str(big_jsonl),
        "--filter-by-pass-rate",
        "0.5",
        "--save-per-iteration",
        "100",
        "--batch-size",
        "100",
    ]
    out = tmp_path / "stopped.jsonl"
    ckpt = Path(f"{out}.parts") / "part-00000-of-00001.ckpt"
    worker = subprocess.Popen(
        [sys.executable, str(REPO / FILTER), *args, "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    while len(list(ckpt.glob("chunk-*.json"))) < 3 and worker.poll() is None:
        time.sleep(0.005)
    worker.send_signal(signal.SIGUSR1)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 75 and "saved up to row" in err and "SIGUSR1" in err
    assert not out.exists()
    resumed = run_command(FILTER, *args, "--output", str(out))
    assert "resuming at row" in resumed.stderr
    reference = tmp_path / "ref.jsonl"
    run_command(FILTER, *args, "--output", str(reference))
    assert out.read_bytes() == reference.read_bytes()
