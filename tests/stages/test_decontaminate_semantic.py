"""selectors/decontaminate.py --semantic on planted vectors: a paraphrase of a benchmark problem (no shared
n-gram) is caught at cosine >= --threshold with its nearest item and cosine, a near miss is not, flag mode,
and the flags it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_command

pytestmark = pytest.mark.stages

DECON = "selectors/decontaminate.py"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _at_cosine(u: np.ndarray, cos: float, rng: np.random.Generator) -> list[float]:
    w = rng.normal(size=u.shape)
    w -= (w @ u) * u
    return (cos * u + np.sqrt(1 - cos**2) * w / np.linalg.norm(w)).tolist()


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    b = rng.normal(size=(4, 16))
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    bench = _write(
        tmp_path / "bench.jsonl",
        [
            {"unique_id": f"t/{i}", "problem": f"benchmark problem {i} about trains", "v": b[i].tolist()}
            for i in range(4)
        ],
    )
    rows = _write(
        tmp_path / "rows.jsonl",
        [
            {"id": "para", "problem": "a locomotive departs at midday", "v": _at_cosine(b[2], 0.93, rng)},
            {"id": "miss", "problem": "a ship sails at dawn", "v": _at_cosine(b[1], 0.86, rng)},
            {"id": "far", "problem": "count the primes below fifty", "v": rng.normal(size=16).tolist()},
            {"id": "both", "problem": "a tram leaves at noon", "v": _at_cosine(b[0], 0.97, rng)},
        ],
    )
    return rows, bench


def test_paraphrases_are_dropped_with_their_nearest_item_and_cosine(case, tmp_path: Path) -> None:
    rows, bench = case
    out = tmp_path / "clean.jsonl"
    args = ["--input", str(rows), "--benchmark", f"{bench}:problem", "--semantic", "--embeddings-field", "v"]
    run_command(DECON, *args, "--threshold", "0.9", "--output", str(out))
    assert [r["id"] for r in _lines(out)] == ["miss", "far"]
    hits = {h["id"]: h for h in _lines(Path(f"{out}.contaminated.jsonl"))}
    assert set(hits) == {"para", "both"}
    assert (hits["para"]["item"], hits["para"]["benchmark"], hits["para"]["ngram"]) == ("t/2", "bench", None)
    assert abs(hits["para"]["cosine"] - 0.93) < 2e-3 and abs(hits["both"]["cosine"] - 0.97) < 2e-3
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["contaminated"] == 2 and stats["per_benchmark"] == {"bench": 2}
    flagged = tmp_path / "flag.jsonl"
    run_command(DECON, *args, "--threshold", "0.85", "--mode", "flag", "--output", str(flagged))
    assert {r["id"]: r["contaminated"] for r in _lines(flagged)} == {
        "para": ["bench"],
        "miss": ["bench"],
        "far": [],
        "both": ["bench"],
    }


def test_semantic_refuses_minhash_and_missing_vectors(case, tmp_path: Path) -> None:
    rows, bench = case
    base = ["--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(tmp_path / "o.jsonl")]
    proc = run_command(DECON, *base, "--semantic", "--minhash", "--embeddings-field", "v", check=False)
    assert proc.returncode == 2 and "give --minhash or --semantic" in proc.stderr
    proc = run_command(DECON, *base, "--semantic", check=False)
    assert proc.returncode == 2 and "give --embedding-model" in proc.stderr
    broken = _write(tmp_path / "broken.jsonl", [*_lines(rows), {"id": "x", "problem": "no vector here"}])
    proc = run_command(DECON, *base[2:], "--input", str(broken), "--semantic", "--embeddings-field", "v", check=False)
    assert proc.returncode == 2 and "broken.jsonl:5: field 'v' is missing" in proc.stderr
