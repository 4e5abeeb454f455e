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


def test_threshold_one_catches_copies_with_cosine_at_most_one(tmp_path: Path) -> None:
    """Rows that carry a benchmark problem's own vector have cosine 1: caught at --threshold 1, and the
    contamination file says 1.0 (the stored float16 vectors are renormalised, as semdedup's are)."""
    b = np.random.default_rng(5).normal(size=(12, 384))
    bench = _write(
        tmp_path / "b.jsonl", [{"unique_id": f"t/{i}", "problem": "p", "v": v.tolist()} for i, v in enumerate(b)]
    )
    rows = _write(
        tmp_path / "r.jsonl", [{"id": f"r{i}", "problem": f"row {i}", "v": v.tolist()} for i, v in enumerate(b)]
    )
    out = tmp_path / "o.jsonl"
    run_command(
        DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--semantic", "--embeddings-field", "v",
        "--threshold", "1", "--output", str(out),
    )  # fmt: skip
    hits = _lines(Path(f"{out}.contaminated.jsonl"))
    assert [(h["id"], h["item"], h["cosine"]) for h in hits] == [(f"r{i}", f"t/{i}", 1.0) for i in range(12)]


def test_vectors_of_another_dimension_than_the_benchmark_are_named_so(case, tmp_path: Path) -> None:
    rows, bench = case
    short = _write(tmp_path / "short.jsonl", [{**r, "v": r["v"][:8]} for r in _lines(rows)])
    proc = run_command(
        DECON, "--input", str(short), "--benchmark", f"{bench}:problem", "--semantic", "--embeddings-field", "v",
        "--output", str(tmp_path / "o.jsonl"), check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "short.jsonl:1: field 'v' has 8 numbers, the benchmark's 16" in proc.stderr


@pytest.mark.parametrize("flag", [["--embedding-model", "m"], ["--embeddings-field", "v"], ["--threshold", "0.9"]])
def test_flags_that_act_only_with_semantic_or_minhash_are_refused_without(case, tmp_path: Path, flag) -> None:
    rows, bench = case
    proc = run_command(
        DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", *flag, "--output", str(tmp_path / "o.jsonl"),
        check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and f"{flag[0]} acts only with" in proc.stderr, proc.stderr


def test_a_benchmark_problem_with_a_nan_vector_is_not_indexed(tmp_path: Path) -> None:
    """A model's NaN vector for one problem (an fp16 overflow) made every row's nearest cosine NaN: nothing
    was ever contaminated. It is bad input: one line, or left out of the index with a warning under skip."""
    from sftkit.decontaminate.semantic import SemanticMatcher, build_semantic_index
    from sftkit.errors import InputError
    from sftkit.semdedup.embed import Embedder, normalized

    bench = _write(tmp_path / "b.jsonl", [{"unique_id": f"t/{i}", "problem": f"problem {i}"} for i in range(3)])
    embedder = Embedder("model2vec", "m")
    out = {"problem 0": [np.nan, 1.0], "problem 1": [1.0, 0.0], "problem 2": [0.0, 1.0]}
    embedder.embed_texts = lambda texts: normalized(np.array([out[t] for t in texts]))  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"b.jsonl:1: the embedding model gave a non-finite or zero vector"):
        build_semantic_index([f"{bench}:problem"], embedder, "error")
    index = build_semantic_index([f"{bench}:problem"], embedder, "skip")
    assert [item for _, item in index.items] == ["t/1", "t/2"]
    best, cos = SemanticMatcher(None, index, 0.9)._nearest(normalized(np.array([[1.0, 0.01]])))  # type: ignore[arg-type]
    assert index.items[best[0]][1] == "t/1" and cos[0] > 0.99


def test_a_row_the_ngram_rules_match_keeps_one_line_with_the_cosine(case, tmp_path: Path) -> None:
    """One line per contaminated row: the n-gram match, which gets the cosine when the nearest problem by
    embedding is the same item (the semantic matcher appended to a list the n-gram matcher no longer keeps)."""
    rows, bench = case
    b = [r["v"] for r in _lines(bench)]
    text = "benchmark problem 3 about trains"
    both = _write(tmp_path / "both.jsonl", [{"id": "copy", "problem": text, "v": b[3]}, *_lines(rows)])
    out = tmp_path / "o.jsonl"
    run_command(
        DECON, "--input", str(both), "--benchmark", f"{bench}:problem", "--semantic", "--embeddings-field", "v",
        "--output", str(out),
    )  # fmt: skip
    hits = {h["id"]: h for h in _lines(Path(f"{out}.contaminated.jsonl"))}
    assert set(hits) == {"copy", "para", "both"}
    assert hits["copy"]["item"] == "t/3" and hits["copy"]["hits"] > 0 and hits["copy"]["cosine"] == 1.0
    assert (hits["para"]["hits"], hits["para"]["ngram"], hits["para"]["item"]) == (0, None, "t/2")
