"""selectors/decontaminate.py: n-gram hits, short texts matched whole, drop and flag modes, benchmark
specs (config:split:field through datasets.load_dataset on a local folder), MinHash rewordings,
sharded runs in tests/cluster/test_local_shards.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_command

from sftkit.decontaminate.index import BenchmarkSpec

pytestmark = pytest.mark.stages

DECON = "selectors/decontaminate.py"
LONG = "A train leaves the station at noon travelling east at sixty miles per hour toward the coast."


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    bench = _write(
        tmp_path / "bench.jsonl",
        [
            {"unique_id": "t/1", "problem": LONG + " When does it arrive?"},
            {"unique_id": "t/2", "problem": "What is 2 + 2?"},
            {"unique_id": "t/3", "problem": "Prove that the square root of two is irrational using only parity."},
        ],
    )
    rows = _write(
        tmp_path / "rows.jsonl",
        [
            {"id": "clean", "problem": "How many ways can five books be arranged on a shelf of three slots?"},
            {"id": "ngram", "problem": "Hint: " + LONG.upper().replace(" ", "  ") + " Find the distance covered."},
            {"id": "seven", "problem": "One train leaves the station at noon travelling west, then stops."},
            {"id": "short-whole", "problem": "what is 2+2?"},
            {"id": "short-inside", "problem": "Compute this first: what is 2 + 2? Then double it and add one."},
            {"id": "short-part", "problem": "the square root of two is irrational"},
            {"id": "short-other", "problem": "What is 3 + 3?"},
        ],
    )
    return rows, bench


def test_ngram_hits_and_short_texts_matched_whole(case, tmp_path: Path) -> None:
    rows, bench = case
    out = tmp_path / "clean.jsonl"
    proc = run_command(DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(out))
    assert [r["id"] for r in _lines(out)] == ["clean", "seven", "short-part", "short-other"]
    assert all("contaminated" not in r and not any(k.startswith("_") for k in r) for r in _lines(out))
    hits = {h["id"]: h for h in _lines(Path(f"{out}.contaminated.jsonl"))}
    assert set(hits) == {"ngram", "short-whole", "short-inside"}  # a short row inside a problem is no hit
    assert hits["ngram"]["item"] == "t/1" and len(hits["ngram"]["ngram"].split()) == 8
    assert hits["ngram"]["ngram"] in " ".join(LONG.lower().replace(".", "").split())
    assert (hits["short-whole"]["item"], hits["short-whole"]["ngram"]) == ("t/2", "what is 2 2")
    assert hits["short-inside"]["item"] == "t/2" and hits["short-inside"]["ngram"] == "what is 2 2"
    assert {h["benchmark"] for h in hits.values()} == {"bench"}
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["per_benchmark"] == {"bench": 3} and stats["contaminated"] == 3 and stats["written"] == 4
    assert "bench" in proc.stdout


def test_flag_mode_keeps_every_row_and_names_the_benchmarks(case, tmp_path: Path) -> None:
    rows, bench = case
    other = _write(tmp_path / "other.jsonl", [{"q": "What is 2 + 2?"}])
    out = tmp_path / "flag.jsonl"
    run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        f"{bench}:problem",
        "--benchmark",
        f"{other}:q",
        "--mode",
        "flag",
        "--output",
        str(out),
    )
    flagged = {r["id"]: r["contaminated"] for r in _lines(out)}
    assert len(flagged) == 7 and flagged["clean"] == [] and flagged["ngram"] == ["bench"]
    assert flagged["short-whole"] == ["bench", "other"]


def test_a_benchmark_spec_with_config_split_and_field_loads_a_local_folder(case, tmp_path: Path) -> None:
    rows, _ = case
    folder = tmp_path / "hubbench"
    (folder / "hard").mkdir(parents=True)
    _write(folder / "hard" / "test.jsonl", [{"Question": LONG}])
    _write(folder / "hard" / "train.jsonl", [{"Question": "What is 3 + 3?"}])
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: hard\n  data_files:\n  - split: test\n"
        "    path: hard/test.jsonl\n  - split: train\n    path: hard/train.jsonl\n---\n"
    )
    assert BenchmarkSpec.parse(f"{folder}:hard:test:Question") == BenchmarkSpec(
        "hubbench", str(folder), "hard", "test", "Question"
    )
    out = tmp_path / "h.jsonl"
    run_command(DECON, "--input", str(rows), "--benchmark", f"{folder}:hard:test:Question", "--output", str(out))
    assert [h["id"] for h in _lines(Path(f"{out}.contaminated.jsonl"))] == ["ngram"]  # the test split only
    assert BenchmarkSpec.parse("math500") == BenchmarkSpec("math500", "HuggingFaceH4/MATH-500", None, "test", "problem")


def test_an_unknown_field_is_one_line(case, tmp_path: Path) -> None:
    rows, bench = case
    for args, message in (
        (["--benchmark", f"{bench}:question"], "no field 'question'; the data has fields: unique_id, problem"),
        ([], "at least one --benchmark"),
        (["--benchmark", f"{bench}:problem", "--text-field", "nope"], "no field 'nope'"),
    ):
        proc = run_command(DECON, "--input", str(rows), *args, "--output", str(tmp_path / "o.jsonl"), check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_minhash_catches_a_rewording_without_a_shared_long_ngram(tmp_path: Path) -> None:
    words = [f"word{i}" for i in range(60)]
    bench = _write(tmp_path / "b.jsonl", [{"problem": " ".join(words)}])
    reworded = " ".join(w if i % 4 != 2 else "x" for i, w in enumerate(words))  # J(3-grams) ~ 0.1
    close = " ".join(w if i % 12 != 6 else "x" for i, w in enumerate(words))  # no 12-gram left, J(3-grams) ~ 0.6
    rows = _write(tmp_path / "r.jsonl", [{"id": "reworded", "problem": reworded}, {"id": "close", "problem": close}])
    run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        f"{bench}:problem",
        "--output",
        str(tmp_path / "n.jsonl"),
        "--ngram",
        "12",
    )
    assert len(_lines(tmp_path / "n.jsonl")) == 2
    run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        f"{bench}:problem",
        "--output",
        str(tmp_path / "m.jsonl"),
        "--ngram",
        "12",
        "--minhash",
        "--threshold",
        "0.5",
    )
    assert [r["id"] for r in _lines(tmp_path / "m.jsonl")] == ["reworded"]
    hit = _lines(tmp_path / "m.jsonl.contaminated.jsonl")[0]
    assert hit["id"] == "close" and hit["ngram"] is None and 0.5 <= hit["jaccard"] < 0.8


def test_a_short_row_is_a_hit_only_when_it_is_a_whole_problem(tmp_path: Path) -> None:
    """Short rows are matched whole: "the" or "Solve for x" inside longer problems are no hit, in drop mode
    nothing is dropped for them; a whole short problem is."""
    bench = _write(
        tmp_path / "b.jsonl",
        [
            {"problem": "Solve for x: 3x + 7 = 22, then find the sum of the digits."},
            {"problem": "Find the area of the circle."},
            {"problem": "Solve for x"},
        ],
    )
    rows = _write(
        tmp_path / "r.jsonl",
        [
            {"id": "the", "problem": "the"},
            {"id": "solve", "problem": "Solve for x!"},
            {"id": "area", "problem": "the circle"},
            {"id": "whole", "problem": "FIND the area of the circle"},
        ],
    )
    out = tmp_path / "o.jsonl"
    run_command(DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(out))
    assert [r["id"] for r in _lines(out)] == ["the", "area"]
    assert {h["id"]: h["item"] for h in _lines(Path(f"{out}.contaminated.jsonl"))} == {"solve": "b-2", "whole": "b-1"}


def test_ngrams_never_cross_a_field_boundary(tmp_path: Path) -> None:
    """An 8-gram of the benchmark made of the question's last words and the answer's first is no hit."""
    bench = _write(tmp_path / "b.jsonl", [{"problem": "alpha beta gamma delta epsilon zeta eta theta"}])
    rows = _write(
        tmp_path / "r.jsonl",
        [
            {
                "id": "split",
                "problem": "Consider the list alpha beta gamma delta",
                "answer": "epsilon zeta eta theta ok",
            },
            {"id": "inside", "problem": "x", "answer": "so alpha beta gamma delta epsilon zeta eta theta"},
        ],
    )
    out = tmp_path / "o.jsonl"
    run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        f"{bench}:problem",
        "--text-field",
        "problem",
        "--text-field",
        "answer",
        "--output",
        str(out),
    )
    assert [r["id"] for r in _lines(out)] == ["split"]


def test_minhash_at_its_defaults_flags_a_rewording_the_ngram_rule_misses(tmp_path: Path) -> None:
    """4 of 30 words substituted, spread out: no 8-gram is left, but --minhash (defaults) flags it."""
    source = [f"word{i}" for i in range(30)]
    reworded = [w if i not in (5, 12, 19, 26) else f"other{i}" for i, w in enumerate(source)]
    bench = _write(tmp_path / "b.jsonl", [{"problem": " ".join(source)}, {"problem": "$$ ?"}])  # no words
    rows = _write(
        tmp_path / "r.jsonl",
        [
            {"id": "reworded", "problem": " ".join(reworded)},
            {"id": "unrelated", "problem": " ".join(f"w{i}" for i in range(30))},
            {"id": "symbols", "problem": "?? !!"},
        ],
    )
    for flags, kept in (([], ["reworded", "unrelated", "symbols"]), (["--minhash"], ["unrelated", "symbols"])):
        out = tmp_path / f"o{len(flags)}.jsonl"
        run_command(DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(out), *flags)
        assert [r["id"] for r in _lines(out)] == kept
    hit = _lines(tmp_path / "o1.jsonl.contaminated.jsonl")[0]
    assert hit["ngram"] is None and 0.5 < hit["jaccard"] < 0.6


def test_benchmarks_with_one_stem_are_named_apart_and_a_hub_error_names_benchmark(tmp_path: Path) -> None:
    rows = _write(tmp_path / "r.jsonl", [{"id": "a", "problem": LONG}, {"id": "b", "problem": "What is 2 + 2?"}])
    for folder, text in (("one", LONG), ("two", "What is 2 + 2?")):
        (tmp_path / folder).mkdir()
        _write(tmp_path / folder / "test.jsonl", [{"problem": text}])
    same = ["--benchmark", f"{tmp_path}/one/test.jsonl", "--benchmark", f"{tmp_path}/two/test.jsonl"]
    out = tmp_path / "o.jsonl"
    proc = run_command(DECON, "--input", str(rows), *same, "--output", str(out), check=False)
    assert proc.returncode == 2 and "name them apart with NAME=SPEC" in proc.stderr
    run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        f"{tmp_path}/one/test.jsonl",
        "--benchmark",
        f"second={tmp_path}/two/test.jsonl",
        "--output",
        str(out),
    )
    assert {h["id"]: h["benchmark"] for h in _lines(Path(f"{out}.contaminated.jsonl"))} == {"a": "test", "b": "second"}
    proc = run_command(
        DECON,
        "--input",
        str(rows),
        "--benchmark",
        "math500",
        "--output",
        str(out),
        check=False,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2 and "--input" not in proc.stderr, proc.stderr
    assert "--benchmark HuggingFaceH4/MATH-500: not a local path" in proc.stderr
    assert "pass --benchmark math500=data/HuggingFaceH4/MATH-500:test:problem," in proc.stderr


CASES = json.loads((Path(__file__).parent.parent / "corpus" / "dedup_cases.json").read_text())


def test_latex_variants_and_chinese_copies_are_caught_and_boilerplate_is_not(tmp_path: Path) -> None:
    """Issue 25's cases: 8 reformatted LaTeX problems, a Chinese copy with a 例3 prefix and one with a
    character changed are caught; the same problems with another number, an unrelated Chinese problem and
    a problem sharing only "Let $x$ be a real number such that x" (two 8-grams) are not, unless --min-hits 2."""
    chinese, boiler = CASES["chinese"], CASES["boilerplate"]
    problems = [c["problem"] for c in CASES["latex"]] + [chinese["problem"], boiler["problem"]]
    bench = _write(tmp_path / "b.jsonl", [{"id": f"p{i}", "problem": p} for i, p in enumerate(problems)])
    copies = [c["copy"] for c in CASES["latex"]] + chinese["copies"]
    clean = [*CASES["other_numbers"], chinese["unrelated"], boiler["row"]]
    rows = _write(
        tmp_path / "r.jsonl",
        [{"id": f"copy{i}", "problem": t} for i, t in enumerate(copies)]
        + [{"id": f"clean{i}", "problem": t} for i, t in enumerate(clean)],
    )
    out = tmp_path / "o.jsonl"
    run_command(DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(out))
    assert [r["id"] for r in _lines(out)] == [f"clean{i}" for i in range(len(clean))]
    hits = _lines(Path(f"{out}.contaminated.jsonl"))
    expected = [f"p{i}" for i in range(8)] + ["p8", "p8"]
    assert [h["id"] for h in hits] == [f"copy{i}" for i in range(10)] and [h["item"] for h in hits] == expected
    assert all(h["hits"] >= 1 for h in hits) and hits[8]["hits"] > 30  # character 12-grams of the copy
    out1 = tmp_path / "o1.jsonl"
    run_command(
        DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--output", str(out1), "--min-hits", "2"
    )
    assert [r["id"] for r in _lines(out1)] == [f"clean{i}" for i in range(len(clean) - 1)]  # two shared 8-grams


def test_a_shared_instruction_flags_nothing_and_a_copy_is_one_line(tmp_path: Path) -> None:
    """Every benchmark problem and every row ends with the same 10-word instruction: its n-grams are in all
    500 problems, so they are boilerplate and flag none of 4,000 unrelated rows; a copied problem is one
    line of the hits file, with its best match and hit count, never one line per problem."""
    import random

    rng = random.Random(5)
    instruction = CASES["instruction"]

    def problem() -> str:
        return " ".join(f"w{rng.randrange(50_000)}" for _ in range(20)) + " " + instruction

    items = [problem() for _ in range(500)]
    bench = _write(tmp_path / "b.jsonl", [{"id": f"i{k}", "problem": p} for k, p in enumerate(items)])
    rows = [{"id": f"r{k}", "problem": problem()} for k in range(4000)] + [{"id": "copy", "problem": items[7]}]
    out = tmp_path / "o.jsonl"
    proc = run_command(
        DECON,
        "--input",
        str(_write(tmp_path / "r.jsonl", rows)),
        "--benchmark",
        f"{bench}:problem",
        "--output",
        str(out),
    )
    assert "are boilerplate" in proc.stderr
    hits = _lines(Path(f"{out}.contaminated.jsonl"))
    assert len(hits) == 1 and (hits[0]["id"], hits[0]["item"]) == ("copy", "i7")
    assert hits[0]["hits"] == 23 - 3  # its 8-grams but the 3 inside the instruction
    assert len(_lines(out)) == 4000


def test_a_number_in_a_text_field_is_matched_as_its_text_and_written_as_read(tmp_path: Path) -> None:
    bench = _write(tmp_path / "b.jsonl", [{"id": "seven", "problem": 7}, {"id": "words", "problem": "What is 2 + 2?"}])
    rows = _write(tmp_path / "r.jsonl", [{"id": "n", "problem": 7.0}, {"id": "m", "problem": 8}])
    out = tmp_path / "o.jsonl"
    run_command(DECON, "--input", str(rows), "--benchmark", f"{bench}:problem", "--mode", "flag", "--output", str(out))
    assert _lines(out) == [
        {"id": "n", "problem": 7.0, "contaminated": ["b"]},
        {"id": "m", "problem": 8, "contaminated": []},
    ]
