"""slurm/submit.sh --local and the predecessor's universal_length_selector.sh: what runs here without Slurm."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import DEMO, REPO, run_script

from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.cluster


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SFTKIT_LOG_DIR": str(cwd / "logs")}
    return subprocess.run(["bash", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_local_refuses_the_options_only_sbatch_could_honour(tmp_path: Path) -> None:
    proc = _run(
        str(REPO / "slurm/submit.sh"),
        "--local",
        "label_filter",
        "--nodelist",
        "n2",
        "--bogus-flag",
        "7",
        "--",
        "--input",
        "x.jsonl",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: --local runs here without Slurm and cannot honour: --nodelist n2 --bogus-flag 7 "
        "(drop them, or submit to Slurm)"
    )


def test_local_tasks_each_log_to_their_own_file_whole(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d.jsonl", 400, seed=3)
    proc = _run(
        str(REPO / "slurm/submit.sh"),
        "--local",
        "label_filter",
        "--shards",
        "2",
        "--",
        "--input",
        str(data),
        "--output",
        str(tmp_path / "kept.jsonl"),
        "--filter-by-pass-rate",
        "0.5",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    logs = sorted((tmp_path / "logs").glob("*-local_*.out"))
    assert [p.name for p in logs] == ["sftkit-label-filter-local_0.out", "sftkit-label-filter-local_1.out"]
    for k, log in enumerate(logs):
        text = log.read_text()  # valid UTF-8, one task's lines only, unprefixed
        assert f"task={k} " in text and f"task={1 - k} " not in text and "[task" not in text
    terminal = proc.stdout.splitlines()
    assert any(line.startswith("[task 0] ") for line in terminal) and any(
        line.startswith("[task 1] ") for line in terminal
    )


def test_universal_length_selector_runs_locally(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d.jsonl", 300, seed=1)
    proc = _run(str(REPO / "slurm/universal_length_selector.sh"), "--local", str(data), "50", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "results" / "d.jsonl_length_selected.json"
    assert len(__import__("json").loads(out.read_text())) == 50


def test_local_shards_check_the_output_is_writable_before_any_task(tmp_path: Path) -> None:
    """Not N tasks each failing, then advice to rerun the same command: one line, exit 2, no task started."""
    data = write_dataset(tmp_path / "d.jsonl", 20, seed=3)
    proc = _run(
        str(REPO / "slurm/submit.sh"),
        "--local",
        "label_filter",
        "--shards",
        "2",
        "--",
        "--input",
        str(data),
        "--output",
        "/sys/sftkit-test/out.jsonl",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.strip().splitlines() == [
        "error: --output /sys/sftkit-test/out.jsonl: cannot write in /sys (Permission denied); choose another --output"
    ], proc.stderr
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shards"], "error: --shards needs a whole number, e.g. --shards 4"),
        (["--shards", "abc", "--"], "error: --shards needs a whole number, e.g. --shards 4"),
        (["--max-parallel", "x", "--"], "error: --max-parallel needs a whole number, e.g. --max-parallel 4"),
        (["--after"], "error: --after needs a value (slurm/submit.sh --help)"),
    ],
)
def test_a_bad_option_value_is_one_line_not_a_bash_error(args: list[str], says: str, tmp_path: Path) -> None:
    proc = _run(str(REPO / "slurm/submit.sh"), "--local", "label_filter", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == says, proc.stderr


def test_stage_flags_without_the_separator_are_pointed_to_it(tmp_path: Path) -> None:
    proc = _run(str(REPO / "slurm/submit.sh"), "--local", "label_filter", "--input", "x.jsonl", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "stage flags go after --" in proc.stderr, proc.stderr


def test_local_partitioned_dedup_merge_equals_one_run_and_resumes(tmp_path: Path) -> None:
    """--shards 2 --merge-tasks 2 --local: each merge step's tasks as local processes; the bytes of one run.
    A failed step stops the chain; the same command again redoes only the tasks not done."""
    args = ["--input", str(DEMO), "--output", "d.jsonl"]
    submit = [str(REPO / "slurm/submit.sh"), "--local", "dedup", "--shards", "2", "--merge-tasks", "2", "--"]
    (tmp_path / "d.jsonl.merge").mkdir()
    (tmp_path / "d.jsonl.merge/write-00001.lock").mkdir()  # task 1 of write cannot start: the step fails
    proc = _run(*submit, *args, cwd=tmp_path)
    assert proc.returncode == 1 and "merge step write failed; rerun the same command to resume" in proc.stderr
    (tmp_path / "d.jsonl.merge/write-00001.lock").rmdir()
    proc = _run(*submit, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pairs 1 already done" in proc.stderr and "write 0 already done" in proc.stderr
    assert "write 1 done" in proc.stderr and "finish 0 done" in proc.stderr
    run_script("selectors/dedup.py", "--input", str(DEMO), "--output", str(tmp_path / "one.jsonl"))
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"d.jsonl{suffix}").read_bytes() == (tmp_path / f"one.jsonl{suffix}").read_bytes()
