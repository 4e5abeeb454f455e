"""selectors/semdedup.py on planted vectors (--embeddings-field): duplicates removed and audited with their
cosine, --keep-by, sharded equals unsharded, a rerun resumes, bad vectors are one line or rejects
(the model path: tests/models/test_semdedup_models.py; on Slurm: tests/cluster/test_slurm.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_command

pytestmark = pytest.mark.stages

SEMDEDUP = "selectors/semdedup.py"
DIM = 24


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _at_cosine(u: np.ndarray, cos: float, rng: np.random.Generator) -> np.ndarray:
    w = rng.normal(size=u.shape)
    w -= (w @ u) * u
    return cos * u + np.sqrt(1 - cos**2) * w / np.linalg.norm(w)


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, dict[str, tuple[str, float]]]:
    """60 distinct rows; 12 paraphrases at cosine 0.93-0.99 of rows 0-11 (placed before and after them);
    6 near misses at 0.85-0.88 of rows 20-25. Truth: paraphrase id -> (the row it repeats, cosine)."""
    rng = np.random.default_rng(7)
    base = rng.normal(size=(60, DIM))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    rows = [{"id": f"b{i}", "problem": f"problem {i}", "n": i, "vec": base[i].tolist()} for i in range(60)]
    truth = {}
    for k in range(12):
        cos = 0.93 + 0.005 * k
        row = {"id": f"p{k}", "problem": f"paraphrase {k}", "n": 100 + k, "vec": _at_cosine(base[k], cos, rng).tolist()}
        rows.insert(30 + k * 3 if k % 2 else len(rows), row)
        truth[f"p{k}"] = (f"b{k}", cos)
    for k in range(6):
        rows.append({"id": f"m{k}", "problem": "miss", "n": 0, "vec": _at_cosine(base[20 + k], 0.85, rng).tolist()})
    return _write(tmp_path / "rows.jsonl", rows), truth


def test_paraphrases_are_removed_and_audited(planted, tmp_path: Path) -> None:
    data, truth = planted
    out = tmp_path / "s.jsonl"
    run_command(SEMDEDUP, "--input", str(data), "--embeddings-field", "vec", "--threshold", "0.9", "--output", str(out))
    order = [r["id"] for r in _lines(data)]
    audit = {a["id"]: a for a in _lines(Path(f"{out}.dups.jsonl"))}
    # the first in input order is kept: a paraphrase placed before its row removes that row instead
    first = {p: min((p, b), key=order.index) for p, (b, _) in truth.items()}
    removed = {(b if first[p] == p else p) for p, (b, _) in truth.items()}
    assert set(audit) == removed
    for p, (b, cos) in truth.items():
        gone = b if first[p] == p else p
        assert audit[gone]["duplicate_of"] == first[p] and abs(audit[gone]["cosine"] - cos) < 2e-3
    assert [r["id"] for r in _lines(out)] == [i for i in order if i not in removed]
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert (stats["duplicates"], stats["components"], stats["kept"], stats["rows_in"]) == (12, 12, 66, 78)


def test_keep_by_picks_the_row_a_component_keeps(planted, tmp_path: Path) -> None:
    data, truth = planted
    out = tmp_path / "k.jsonl"
    run_command(
        SEMDEDUP, "--input", str(data), "--embeddings-field", "vec", "--keep-by", "n:desc", "--output", str(out)
    )
    audit = {a["id"]: a["duplicate_of"] for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert audit == {b: p for p, (b, _) in truth.items()}  # the paraphrases have the larger n


def test_sharded_equals_unsharded_and_a_rerun_resumes(planted, tmp_path: Path) -> None:
    data, _ = planted
    common = ["--input", str(data), "--embeddings-field", "vec", "--cluster-size", "10", "--save-per-iteration", "7"]
    run_command(SEMDEDUP, *common, "--output", str(tmp_path / "whole.jsonl"))
    for shard in ("0/3", "1/3", "2/3"):
        run_command(SEMDEDUP, *common, "--shard", shard, "--output", str(tmp_path / "sh.jsonl"))
    part = next((tmp_path / "sh.jsonl.parts").glob("part-00000-*.embedding.npy"))
    assert np.load(part).dtype == np.float16
    run_command(SEMDEDUP, *common, "--merge", "--num-shards", "3", "--output", str(tmp_path / "sh.jsonl"))
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"sh.jsonl{suffix}").read_bytes() == (tmp_path / f"whole.jsonl{suffix}").read_bytes()
    again = run_command(SEMDEDUP, *common, "--shard", "1/3", "--output", str(tmp_path / "sh.jsonl"))
    assert "already complete" in again.stderr
    stats = json.loads((tmp_path / "sh.jsonl.stats.json").read_text())
    assert stats["kmeans_clusters"] == 8 and stats["shards"] == 3
    changed = run_command(
        SEMDEDUP, *common[:4], "--keep-by", "n:asc", "--merge", "--output", str(tmp_path / "sh.jsonl"), check=False
    )
    assert changed.returncode == 2 and "other semdedup flags" in changed.stderr


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"id": "x", "problem": "no vector"}, "field 'vec' is missing"),
        ({"id": "x", "vec": [0.1] * (DIM - 1)}, f"field 'vec' has {DIM - 1} numbers, the rows before it {DIM} (ragged"),
        ({"id": "x", "vec": "0.1 0.2"}, "field 'vec' is str, not a list of numbers"),
    ],
)
def test_a_bad_vector_is_one_line_or_a_reject(planted, tmp_path: Path, bad: dict, message: str) -> None:
    data, _ = planted
    rows = _lines(data)
    rows.insert(5, bad)
    path = _write(tmp_path / "bad.jsonl", rows)
    args = ["--input", str(path), "--embeddings-field", "vec"]
    proc = run_command(SEMDEDUP, *args, "--output", str(tmp_path / "o.jsonl"), check=False)
    lines = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and f"bad.jsonl:6: {message}" in lines[0], proc.stderr
    run_command(SEMDEDUP, *args, "--on-bad-record", "skip", "--output", str(tmp_path / "o.jsonl"))
    rejects = _lines(tmp_path / "o.jsonl.rejects.jsonl")
    assert len(rejects) == 1 and message in rejects[0]["reason"]


def test_flags_without_vectors_are_refused(planted, tmp_path: Path) -> None:
    data, _ = planted
    proc = run_command(SEMDEDUP, "--input", str(data), "--output", str(tmp_path / "o.jsonl"), check=False)
    assert proc.returncode == 2 and "give --embedding-model" in proc.stderr
    proc = run_command(
        SEMDEDUP, "--input", str(data), "--embeddings-field", "nope", "--output", str(tmp_path / "o.jsonl"), check=False
    )
    assert proc.returncode == 2 and "no field 'nope'" in proc.stderr
