"""selectors/dedup.py: exact and near duplicates with known Jaccard, the audit, --verify, --keep-by,
--against, resume after a killed shard (sharded runs: tests/cluster/test_local_shards.py, test_slurm.py)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, jaccard3, random_text, run_command, swap_words

from sftkit.dedup.minhash import candidate_probability

pytestmark = pytest.mark.stages

DEDUP = "selectors/dedup.py"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_planted_pairs_have_the_jaccard_they_claim(planted) -> None:
    _, truth = planted
    assert min(j for k, (_, j) in truth.items() if k.startswith("near")) >= 0.9
    assert max(j for k, (_, j) in truth.items() if k.startswith("far")) <= 0.5


def test_exact_and_near_duplicates_are_removed_and_audited(planted, tmp_path: Path) -> None:
    data, truth = planted
    out = tmp_path / "d.jsonl"
    proc = run_command(DEDUP, "--input", str(data), "--output", str(out))
    kept = {r["id"] for r in _lines(out)}
    removed = {k for k in truth if not k.startswith("far")}
    assert kept.isdisjoint(removed)
    assert {f"b{i}" for i in range(200)} | {k for k in truth if k.startswith("far")} | {"num0", "num1"} <= kept
    order = [r["id"] for r in _lines(data)]
    assert [r["id"] for r in _lines(out)] == [i for i in order if i in kept]  # input order
    audit = {a["id"]: a for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert set(audit) == removed
    for rid, a in audit.items():
        assert a["duplicate_of"] == truth[rid][0] and a["jaccard_is"] == "estimated" and not a["reference"]
        assert a["kind"] == ("exact" if rid.startswith("exact") else "near")
        assert abs(a["jaccard"] - truth[rid][1]) < 0.12
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert (stats["exact_duplicates"], stats["near_duplicates"], stats["clusters"], stats["largest_cluster"]) == (
        30,
        40,
        70,
        2,
    )
    assert stats["rows_in"] == 312 and stats["kept"] == 242
    assert (tmp_path / "d.clusters.png").stat().st_size > 1000 and "near duplicates removed" in proc.stdout


def test_numbers_are_kept_unless_normalized(planted, tmp_path: Path) -> None:
    data, _ = planted
    run_command(DEDUP, "--input", str(data), "--output", str(tmp_path / "n.jsonl"), "--normalize-numbers")
    audit = {a["id"]: a for a in _lines(tmp_path / "n.jsonl.dups.jsonl")}
    assert audit["num1"]["duplicate_of"] == "num0" and audit["num1"]["kind"] == "exact"


def test_verify_never_removes_a_pair_below_the_threshold(planted, tmp_path: Path) -> None:
    """Banding so loose that every planted pair is a candidate (56 bands of 2 rows: P(J=0.5) = 1.0000):
    the exact Jaccard decides, so no far pair (J <= 0.5) goes, and every near pair (J >= 0.9) does."""
    data, truth = planted
    assert candidate_probability(0.3, 56, 2) > 0.99
    out = tmp_path / "v.jsonl"
    run_command(DEDUP, "--input", str(data), "--output", str(out), "--bands", "56", "--rows", "2", "--verify")
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    # near and far pairs were candidates; num0/num1, whose numbers differ, no longer is (it made the 80th)
    assert stats["candidate_pairs"] >= 40 + 40 - 1
    audit = {a["id"]: a for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert set(audit) == {k for k in truth if not k.startswith("far")}
    for rid, a in audit.items():
        assert a["jaccard_is"] == "exact" and a["jaccard"] == pytest.approx(truth[rid][1], abs=1e-4)


def test_keep_by_chooses_the_row_a_cluster_keeps(tmp_path: Path) -> None:
    rng = random.Random(3)
    text = random_text(rng)
    rows = [
        {"id": "short", "problem": text, "generated_solution": "ab", "rate": "0.9"},
        {"id": "long", "problem": text.upper(), "generated_solution": "abcdef", "rate": "n/a"},
        {"id": "mid", "problem": text + " ", "generated_solution": "abcd", "rate": "0.1"},
        {"id": "other", "problem": random_text(rng), "generated_solution": "", "rate": "0.5"},
    ]
    data = _write(tmp_path / "k.jsonl", rows)
    for k, (keep_by, survivor) in enumerate(
        (
            ("generated_solution:length:desc", "long"),
            ("rate:asc", "mid"),
            ("rate:number:desc", "short"),
            (None, "short"),
        )
    ):
        out = tmp_path / f"{k}.jsonl"
        run_command(DEDUP, "--input", str(data), "--output", str(out), *(["--keep-by", keep_by] if keep_by else []))
        assert [r["id"] for r in _lines(out)] == [i for i in ("short", "long", "mid") if i == survivor] + ["other"]
        assert {a["duplicate_of"] for a in _lines(Path(f"{out}.dups.jsonl"))} == {survivor}


def test_against_removes_rows_duplicating_the_reference_and_keeps_the_reference_whole(tmp_path: Path) -> None:
    rng = random.Random(5)
    seeds = [random_text(rng) for _ in range(3)]
    reference = _write(
        tmp_path / "ref.jsonl",
        [{"id": "r0", "problem": seeds[0]}, {"id": "r0bis", "problem": seeds[0]}, {"id": "r1", "problem": seeds[1]}],
    )
    rows = [
        {"id": "a", "problem": seeds[0].upper()},
        {"id": "b", "problem": swap_words(rng, seeds[1], 1)},
        {"id": "c", "problem": seeds[2]},
        {"id": "d", "problem": seeds[2]},
        {"id": "e", "problem": random_text(rng)},
    ]
    out = tmp_path / "o.jsonl"
    run_command(
        DEDUP, "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out), "--against", str(reference)
    )
    assert [r["id"] for r in _lines(out)] == ["c", "e"]
    audit = {a["id"]: (a["duplicate_of"], a["reference"], a["kind"]) for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert audit == {"a": ("r0", True, "exact"), "b": ("r1", True, "near"), "d": ("c", False, "exact")}
    assert json.loads(Path(f"{out}.stats.json").read_text())["against_reference"] == 2


def test_bad_input_and_bad_flags_are_one_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "x.jsonl", [{"id": 1, "question": "a b c"}, {"id": 2, "question": None}])
    for k, (extra, message) in enumerate(
        (
            ([], "no field 'problem'"),
            (["--text-field", "question"], "x.jsonl:2: field 'question' is null"),
            (["--text-field", "question", "--keep-by", "len"], "--keep-by 'len'"),
            (["--bands", "50"], "both --bands and --rows"),
        )
    ):
        proc = run_command(DEDUP, "--input", str(data), "--output", str(tmp_path / f"{k}.jsonl"), *extra, check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    run_command(
        DEDUP,
        "--input",
        str(data),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--text-field",
        "question",
        "--on-bad-record",
        "skip",
    )
    assert [r["id"] for r in _lines(tmp_path / "o.jsonl")] == [1]
    assert len(_lines(tmp_path / "o.jsonl.rejects.jsonl")) == 1


@pytest.mark.slow  # kills and resumes a stage on 40k rows
def test_a_killed_shard_resumes_without_duplicates(tmp_path: Path) -> None:
    from sftkit.synthetic import write_dataset

    data = write_dataset(tmp_path / "big.jsonl", 40_000, seed=2)
    args = ["--input", str(data), "--save-per-iteration", "1000", "--batch-size", "1000"]
    run_command(DEDUP, *args, "--output", str(tmp_path / "clean.jsonl"))
    out = tmp_path / "killed.jsonl"
    worker = subprocess.Popen(
        [sys.executable, str(REPO / DEDUP), *args, "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ckpt = Path(f"{out}.parts") / "part-00000-of-00001.ckpt"
    deadline = time.time() + 120
    while len(list(ckpt.glob("chunk-*.json"))) < 4 and worker.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert worker.poll() is None, "the worker must still be running"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert not out.exists()
    proc = run_command(DEDUP, *args, "--output", str(out))
    assert re.search(r"resuming at row [1-9]", proc.stderr)
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"killed.jsonl{suffix}").read_bytes() == (tmp_path / f"clean.jsonl{suffix}").read_bytes()
    assert json.loads((tmp_path / "killed.jsonl.stats.json").read_text())["exact_duplicates"] > 100


TRIPLE = (
    "t187w80 t187w2 t187w15 t187w26 t187w159 t187w128 t187w179 t187w163 {} t187w106 t187w28 t187w106 "
    "t187w86 t187w160 t187w56 t187w87 t187w85 {} t187w94 t187w37 t187w80 t187w86 t187w21 t187w65 t187w87 "
    "t187w187 t187w163 t187w70 t187w163 t187w72 t187w38 t187w105 t187w149 t187w101 t187w56 t187w155 t187w26 "
    "t187w58 t187w68"
)


@pytest.mark.parametrize("verify", [True, False])
def test_a_bucket_is_compared_pairwise_whatever_the_input_order(tmp_path: Path, verify: bool) -> None:
    """A, B, C share a band; only J(B, C) = 0.854 reaches 0.8 (J(A, B) = J(A, C) = 0.689): C goes in
    either order, not only when B comes first."""
    rows = {
        "A": TRIPLE.format("t187w2", "t187w61 t187w12"),
        "B": TRIPLE.format("t187w166", "t187w181 t187w89"),
        "C": TRIPLE.format("t187w114", "t187w181 t187w89"),
    }
    assert round(jaccard3(rows["B"], rows["C"]), 3) == 0.854 and round(jaccard3(rows["A"], rows["B"]), 3) == 0.689
    for order in ("ABC", "BAC", "CAB"):
        data = _write(tmp_path / f"{order}.jsonl", [{"id": k, "problem": rows[k]} for k in order])
        out = tmp_path / f"{order}.out.jsonl"
        run_command(DEDUP, "--input", str(data), "--output", str(out), *(["--verify"] if verify else []))
        kept = [r["id"] for r in _lines(out)]
        assert "A" in kept and len(kept) == 2, (order, kept)


def test_an_exact_copy_counts_as_exact_when_keep_by_keeps_a_near_one(tmp_path: Path) -> None:
    text = (
        "a farmer has some chickens and some cows in a field and counts thirty heads and eighty legs in "
        "total how many cows are there in the field"
    )
    rows = [
        {"id": "A", "problem": text + " today", "sol": "short"},
        {"id": "A2", "problem": text.upper() + " today", "sol": "short"},
        {"id": "B", "problem": text + " now", "sol": "a much longer solution text"},
    ]
    out = tmp_path / "o.jsonl"
    run_command(
        DEDUP, "--input", str(_write(tmp_path / "kb.jsonl", rows)), "--output", str(out), "--keep-by", "sol:length:desc"
    )
    assert [r["id"] for r in _lines(out)] == ["B"]
    audit = {a["id"]: (a["kind"], a["duplicate_of"], a["kept"]) for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert audit == {"A": ("near", "B", "B"), "A2": ("exact", "A", "B")}
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert (stats["exact_duplicates"], stats["near_duplicates"]) == (1, 1)


CASES = json.loads((REPO / "tests/corpus/dedup_cases.json").read_text())


@pytest.mark.parametrize("flags", [[], ["--verify"], ["--normalize-numbers"]])
def test_problems_that_differ_in_one_number_are_never_merged(tmp_path: Path, flags: list[str]) -> None:
    """Ten realistic problems in two versions differing in one number (exact 3-gram J 0.87-0.91): never
    merged, even with --verify; --normalize-numbers keeps the old meaning (one number word: merged)."""
    rows = [
        {"id": f"{k}{side}", "problem": t}
        for k, pair in enumerate(CASES["number_pairs"])
        for side, t in zip("ab", pair)
    ]
    out = tmp_path / "o.jsonl"
    run_command(DEDUP, "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out), *flags)
    audit = {a["id"]: a["duplicate_of"] for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert audit == ({f"{k}b": f"{k}a" for k in range(10)} if flags == ["--normalize-numbers"] else {})


def test_no_row_is_kept_in_place_of_a_row_with_another_answer(tmp_path: Path) -> None:
    """Synthetic math (templates whose numbers make the answer): with default flags every removed row has
    the answer of the row kept in its place; with --normalize-numbers many do not (the old meaning)."""
    from sftkit.synthetic import generate

    rows = [{"id": f"s{k}", **r} for k, r in enumerate(next(generate(6000)).to_pylist())]
    data = _write(tmp_path / "s.jsonl", rows)
    answer = {r["id"]: r["expected_answer"] for r in rows}
    for flags, must_agree in (([], True), (["--normalize-numbers"], False)):
        out = tmp_path / f"o{len(flags)}.jsonl"
        run_command(DEDUP, "--input", str(data), "--output", str(out), *flags)
        audit = _lines(Path(f"{out}.dups.jsonl"))
        other = [a for a in audit if answer[a["id"]] != answer[a["kept"]]]
        assert len(audit) > 100 and (not other if must_agree else len(other) > 100), (len(audit), len(other))


def test_chinese_near_duplicates_and_invisible_characters(tmp_path: Path) -> None:
    """Chinese is shingled by character 5-grams: 100-180-character texts with one character changed are
    found, unrelated ones are not. Three zero-width spaces, soft hyphens or BOMs in a 40-word copy leave
    it an exact duplicate. Two Chinese problems that differ in a number (12个 and 15个) are not merged."""
    rng = random.Random(11)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    rows = []
    for k in range(20):
        text = "".join(rng.choice(han) + ("，" if rng.random() < 0.1 else "") for _ in range(rng.randint(100, 180)))
        at = rng.randrange(len(text))
        rows += [{"id": f"zh{k}", "problem": text}, {"id": f"zh{k}bis", "problem": text[:at] + "的" + text[at + 1 :]}]
    words40 = random_text(rng, 40).split()
    for k, mark in enumerate(("\u200b", "\u00ad", "\ufeff")):
        marked = list(words40)
        for at in (5, 17, 30):
            marked[at] = marked[at][:1] + mark + marked[at][1:]
        rows += [
            {"id": f"en{k}", "problem": " ".join(random_text(rng, 40).split())},
            {"id": f"en{k}bis", "problem": " ".join(marked)},
        ]
    rows.append({"id": "en", "problem": " ".join(words40)})
    zh = "小明有一些苹果，他每天早上把几个苹果送给村里的邻居，然后去田里干活。"
    zh += "第3题：他原来有{}个苹果，每天送出2个，几天后送完？"
    rows += [{"id": "num-zh", "problem": zh.format(12)}, {"id": "num-zh-bis", "problem": zh.format(15)}]  # J 0.88
    out = tmp_path / "o.jsonl"
    run_command(DEDUP, "--input", str(_write(tmp_path / "in.jsonl", rows)), "--output", str(out))
    audit = {a["id"]: (a["duplicate_of"], a["kind"]) for a in _lines(Path(f"{out}.dups.jsonl"))}
    assert {k: v for k, v in audit.items() if k.startswith("zh")} == {
        f"zh{k}bis": (f"zh{k}", "near") for k in range(20)
    }
    assert {k: v for k, v in audit.items() if k.startswith("en")} == {
        "en": ("en0bis", "exact"),
        "en1bis": ("en0bis", "exact"),
        "en2bis": ("en0bis", "exact"),
    }
    assert "num-zh-bis" not in audit  # a number beside Chinese characters is a number: another problem


def test_smaller_defects_nulls_lose_sides_are_marked_ids_counted_numbers_are_text(tmp_path: Path) -> None:
    """--keep-by FIELD:length:asc never keeps a null, missing, empty or blank field over a real value; an audit
    line says which side (input or --against) the row it names is on, since their ids may overlap; rows with an id an
    earlier row has are counted on screen; a number in a text field is compared as its text and written as
    the number it was (it neither stops the run nor vanishes under skip)."""
    rng = random.Random(9)
    text = random_text(rng)
    rows = [
        {"id": "null", "problem": text, "solution": None},
        {"id": "missing", "problem": text},
        {"id": "empty", "problem": text, "solution": ""},
        {"id": "blank", "problem": text, "solution": " \n"},
        {"id": "real", "problem": text, "solution": "a long worked solution"},
    ]
    out = tmp_path / "k.jsonl"
    run_command(
        DEDUP,
        "--input",
        str(_write(tmp_path / "k_in.jsonl", rows)),
        "--output",
        str(out),
        "--keep-by",
        "solution:length:asc",
    )
    assert [r["id"] for r in _lines(out)] == ["real"]

    reference = _write(tmp_path / "ref.jsonl", [{"id": "a", "problem": text}])
    rows = [{"id": "a", "problem": text.upper()}, {"id": "b", "problem": 12345}, {"id": "b", "problem": "12345"}]
    out = tmp_path / "s.jsonl"
    proc = run_command(
        DEDUP, "--input", str(_write(tmp_path / "s_in.jsonl", rows)), "--output", str(out), "--against", str(reference)
    )
    assert _lines(out) == [{"id": "b", "problem": 12345}]  # the number, as read
    audit = [(a["id"], a["duplicate_of"], a["duplicate_of_side"], a["kind"]) for a in _lines(Path(f"{out}.dups.jsonl"))]
    assert audit == [("a", "a", "against", "exact"), ("b", "b", "input", "exact")]
    assert "1 rows have the id of an earlier row" in proc.stderr
    assert json.loads(Path(f"{out}.stats.json").read_text())["duplicate_ids"] == 1
