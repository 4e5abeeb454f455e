"""semdedup through slurm/submit.sh: two array tasks and the merge job on the real Slurm, and the local
executor, each writing the same bytes as one unsharded run (planted vectors, several k-means clusters)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run_script
from slurm_cluster import wait_done

pytestmark = pytest.mark.cluster

SMALL = ["-c", "1", "--mem=1G"]  # two such tasks fit the 2-CPU test node at once
FLAGS = ["--embeddings-field", "vec", "--cluster-size", "20", "--output", "out/s.jsonl"]  # 4 k-means clusters


@pytest.fixture
def vectors(tmp_path: Path) -> Path:
    """80 rows of 16-d vectors, 20 of them paraphrases (cosine 0.95) of earlier rows."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(60, 16))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = [{"id": f"b{i}", "problem": f"p{i}", "vec": v.tolist()} for i, v in enumerate(base)]
    for k in range(20):
        w = rng.normal(size=16)
        w -= (w @ base[k]) * base[k]
        v = 0.95 * base[k] + np.sqrt(1 - 0.95**2) * w / np.linalg.norm(w)
        rows.append({"id": f"p{k}", "problem": f"q{k}", "vec": v.tolist()})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _reference(tmp_path: Path, data: Path) -> Path:
    out = tmp_path / "one.jsonl"
    run_script("selectors/semdedup.py", "--input", str(data), *FLAGS[:-2], "--output", str(out))
    return out


def test_semdedup_runs_sharded_on_the_real_slurm(slurm, vectors: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "semdedup", "--shards", "2", *SMALL, "--", "--input", str(vectors), *FLAGS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SFTKIT_MERGE_POLL": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    merge = proc.stdout.split("merge job ")[1].split()[0]
    state = wait_done(merge)
    logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").glob("*")))
    assert state == "COMPLETED", logs
    markers = [json.loads(p.read_text()) for p in (tmp_path / "out/s.jsonl.parts").glob("*.done")]
    assert sorted(m["slurm_array_task_id"] for m in markers) == ["0", "1"]
    one = _reference(tmp_path, vectors)
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"out/s.jsonl{suffix}").read_bytes() == Path(f"{one}{suffix}").read_bytes(), suffix
    assert len(Path(f"{one}.dups.jsonl").read_text().splitlines()) == 20


def test_semdedup_runs_sharded_with_the_local_executor(vectors: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "--local", "semdedup", "--shards", "3", "--", "--input", str(vectors), *FLAGS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = _reference(tmp_path, vectors)
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"out/s.jsonl{suffix}").read_bytes() == Path(f"{one}{suffix}").read_bytes(), suffix
