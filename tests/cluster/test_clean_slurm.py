"""The clean stage through slurm/submit.sh, on the real Slurm (two array tasks and the merge job) and with
--local: the same bytes as one run over all rows."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from helpers import REPO, run_script
from slurm_cluster import wait_done

pytestmark = pytest.mark.cluster
FLAGS = ["--fields", "problem,generated_solution", "--pii", "mask", "--toxicity", "flag", "--languages", "en"]


@pytest.mark.usefixtures("slurm")
def test_clean_runs_sharded_on_the_real_slurm(demo_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "clean", "--shards", "2", "-c", "1", "--mem=1G", "--", "--input",
         str(demo_data), *FLAGS, "--output", "out/clean.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, "SFTKIT_MERGE_POLL": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merge = re.search(r"merge job (\d+)", proc.stdout).group(1)
    assert wait_done(merge) == "COMPLETED"
    markers = [json.loads(p.read_text()) for p in (tmp_path / "out/clean.jsonl.parts").glob("*.done")]
    assert sorted(m["slurm_array_task_id"] for m in markers) == ["0", "1"]
    run_script("selectors/clean.py", "--input", str(demo_data), *FLAGS, "--output", str(tmp_path / "local.jsonl"))
    for suffix in ("", ".rejects.jsonl"):
        assert (tmp_path / f"out/clean.jsonl{suffix}").read_bytes() == (tmp_path / f"local.jsonl{suffix}").read_bytes()
    stats = json.loads((tmp_path / "out/clean.jsonl.stats.json").read_text())
    assert stats["shards"] == 2 and stats["counts"]["kept"] > 100 and (tmp_path / "out/clean.filters.png").exists()


def test_clean_runs_sharded_with_local(demo_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "slurm/submit.sh"), "--local", "clean", "--shards", "2", "--", "--input", str(demo_data),
         *FLAGS, "--output", "out/clean.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SFTKIT_LOG_DIR": str(tmp_path / "logs")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_script("selectors/clean.py", "--input", str(demo_data), *FLAGS, "--output", str(tmp_path / "local.jsonl"))
    for suffix in ("", ".rejects.jsonl"):
        assert (tmp_path / f"out/clean.jsonl{suffix}").read_bytes() == (tmp_path / f"local.jsonl{suffix}").read_bytes()
    assert json.loads((tmp_path / "out/clean.jsonl.stats.json").read_text())["shards"] == 2
