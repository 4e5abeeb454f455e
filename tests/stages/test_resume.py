"""Resume and merge against changed input, mixed parts, concurrent runs and killed writers (issue 12)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from helpers import REPO, run_command, run_script

from sftkit.data.lock import ShardLock
from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.stages

FILTER = "selectors/label_filter.py"
LLM_FILTER = "hpc/filter.py"
MERGE = "hpc/merge_shards.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _start(*args: str, stderr: int = subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / FILTER), *args], env=ENV, stdout=subprocess.DEVNULL, stderr=stderr, text=True
    )


def _wait_for_chunks(ckpt: Path, n: int, worker: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while len(list(ckpt.glob("chunk-*.json"))) < n and worker.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert worker.poll() is None, "the worker must still be running"


def test_rows_appended_to_a_stopped_shard_are_refused_saying_what_changed(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "in.jsonl", 20_000, seed=3)
    args = ["--input", str(data), "--filter-by-pass-rate", "0.5", "--save-per-iteration", "100", "--batch-size", "100"]
    out = tmp_path / "o.jsonl"
    worker = _start(*args, "--output", str(out))
    _wait_for_chunks(Path(f"{out}.parts") / "part-00000-of-00001.ckpt", 3, worker)
    worker.send_signal(signal.SIGUSR1)
    assert worker.wait(timeout=60) == 75
    extra = write_dataset(tmp_path / "extra.jsonl", 200, seed=4)
    with open(data, "ab") as fh:
        fh.write(extra.read_bytes())
    proc = run_command(FILTER, *args, "--output", str(out), check=False)
    assert proc.returncode == 2 and "data.rows 20000 -> 20200" in proc.stderr and "--overwrite" in proc.stderr
    assert not out.exists()
    run_command(FILTER, *args, "--overwrite", "--output", str(out))
    kept = _lines(out)
    assert len({r["id"] for r in kept}) == len(kept)
    assert json.loads(Path(f"{out}.stats.json").read_text())["counts"]["rows"] == 20_200


def test_a_file_replaced_at_the_same_path_is_new_input(demo_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    rows = demo_data.read_bytes().splitlines(keepends=True)
    data.write_bytes(b"".join(rows[:1000]))
    args = ["--input", str(data), "--filter-by-pass-rate", "0.4"]
    run_command(FILTER, *args, "--output", str(tmp_path / "o.jsonl"))
    run_command(FILTER, *args, "--shard", "0/2", "--output", str(tmp_path / "s.jsonl"))
    data.write_bytes(b"".join(rows[1000:2000]))  # same path, same row count, other rows
    proc = run_command(FILTER, *args, "--output", str(tmp_path / "o.jsonl"), check=False)
    assert proc.returncode == 2 and f"data.sha256.{data}" in proc.stderr and "already complete" not in proc.stderr
    run_command(FILTER, *args, "--shard", "1/2", "--output", str(tmp_path / "s.jsonl"))
    merged = run_command(MERGE, "--output", str(tmp_path / "s.jsonl"), check=False)
    assert merged.returncode == 2 and "part-00001-of-00002 were made with other settings or input" in merged.stderr
    assert not (tmp_path / "s.jsonl").exists()


def test_shard_parts_and_leftover_percentage_parts_are_not_merged(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    args = ["--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--output", str(out)]
    run_command(FILTER, *args, "--start-from-percentage", "0", "--end-at-percentage", "0.5")
    for i in range(2):
        run_command(FILTER, *args, "--shard", f"{i}/2")
    proc = run_command(MERGE, "--output", str(out), check=False)
    assert proc.returncode == 2 and "cannot merge --shard I/N parts" in proc.stderr and "part-0-to-0.5" in proc.stderr
    assert not out.exists()
    (Path(f"{out}.parts") / "part-0-to-0.5.done").unlink()
    run_command(MERGE, "--output", str(out))
    assert json.loads(Path(f"{out}.stats.json").read_text())["rows_in"] == 2000


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_a_second_run_on_one_output_is_refused_naming_the_first(big_jsonl: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    args = [
        "--input",
        str(big_jsonl),
        "--filter-by-pass-rate",
        "0.5",
        "--save-per-iteration",
        "100",
        "--batch-size",
        "100",
        "--output",
        str(out),
    ]
    first = _start(*args)
    _wait_for_chunks(Path(f"{out}.parts") / "part-00000-of-00001.ckpt", 2, first)
    second = run_script(FILTER, *args, check=False)
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid} on host {socket.gethostname()}" in second.stderr and "Traceback" not in second.stderr
    assert first.wait(timeout=300) == 0
    marker = json.loads((Path(f"{out}.parts") / "part-00000-of-00001.done").read_text())
    assert len(_lines(out)) == marker["records"] and marker["counts"]["rows"] == 60_000


def test_a_run_that_raised_in_process_does_not_lock_out_the_next_one(tmp_path: Path) -> None:
    ShardLock(tmp_path / "part.lock", "first")  # never released, as when a stage raised mid-shard
    second = ShardLock(tmp_path / "part.lock", "second")
    assert second.fd is not None and (tmp_path / "part.lock").read_text().startswith(f"second pid {os.getpid()}")
    second.release()
    # the same through a command: a run in this process raises on a bad label mid-shard, the next one runs
    data = tmp_path / "labels.jsonl"
    data.write_bytes(b"".join(orjson.dumps({"pass_rate_72b_tir": v}) + b"\n" for v in ["0.5", "1", "bogus", "0.25"]))
    out = tmp_path / "o.jsonl"
    args = ("--input", str(data), "--filter-by-pass-rate", "1", "--batch-size", "1", "--output", str(out))
    failed = run_command(FILTER, *args, check=False)
    assert failed.returncode == 2 and "'bogus' is not a number" in failed.stderr and not out.exists()
    again = run_command(FILTER, *args, "--on-bad-record", "skip", "--overwrite")
    assert again.returncode == 0 and "in use by" not in again.stderr
    assert [r["pass_rate_72b_tir"] for r in _lines(out)] == ["0.25", "0.5", "1"]


def test_the_merge_checks_every_part_against_its_marker_before_writing(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    for i in range(2):
        run_command(
            FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--shard", f"{i}/2", "--output", str(out)
        )
    run_command(MERGE, "--output", str(out))
    good = out.read_bytes()
    part = Path(f"{out}.parts") / "part-00001-of-00002.jsonl"
    lines = part.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[: len(lines) // 2]))  # what a losing concurrent run left behind
    proc = run_command(MERGE, "--output", str(out), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"part-00001-of-00002.jsonl holds {len(lines) // 2:,} records" in proc.stderr
    assert f"marker says {len(lines):,} records" in proc.stderr
    assert out.read_bytes() == good


def test_stale_temporaries_of_dead_writers_are_removed(demo_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    run_command(
        FILTER, "--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--shard", "0/1", "--output", str(out)
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = subprocess.Popen(["sleep", "300"])  # a writer still running on this host (the merge runs in this process)
    host, parts = socket.gethostname(), Path(f"{out}.parts")
    stale = [
        tmp_path / f".m.jsonl.tmp-{host}-{dead.pid}",
        parts / f".part-00000-of-00001.jsonl.tmp-{host}-{dead.pid}",
        tmp_path / f".m.jsonl.tmp-{dead.pid}",
    ]  # the old name without a host, two hours old
    kept = [tmp_path / f".m.jsonl.tmp-{host}-{alive.pid}", tmp_path / f".m.jsonl.tmp-other-node-{dead.pid}"]
    for path in stale + kept:
        path.write_bytes(b"x" * 1000)
    os.utime(stale[-1], (time.time() - 7200, time.time() - 7200))
    try:
        run_command(MERGE, "--output", str(out))
    finally:
        alive.kill()
        alive.wait()
    assert [p.exists() for p in stale] == [False] * 3 and [p.exists() for p in kept] == [True] * 2


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_checkpoints_fall_every_n_rows(big_jsonl: Path, demo_data: Path, tmp_path: Path) -> None:
    run_command(
        FILTER, "--input", str(big_jsonl), "--filter-by-pass-rate", "0.5", "--output", str(tmp_path / "a.jsonl")
    )
    marker = json.loads((tmp_path / "a.jsonl.parts" / "part-00000-of-00001.done").read_text())
    assert marker["chunks"] == 6  # --save-per-iteration 10000 of 60,000 rows, in batches of 8192
    run_command(
        FILTER,
        "--input",
        str(demo_data),
        "--save-per-iteration",
        "300",
        "--batch-size",
        "256",
        "--shard",
        "1/3",
        "--output",
        str(tmp_path / "b.jsonl"),
    )
    marker = json.loads((tmp_path / "b.jsonl.parts" / "part-00001-of-00003.done").read_text())
    assert marker["rows"] == [666, 1333] and marker["chunks"] == 3 and marker["counts"]["rows"] == 667
