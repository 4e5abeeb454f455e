"""The solve-and-judge filter: verdict parsing, votes, math-verify counts, and the stage on real engines."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_script

from sftkit.answers import verify_answer
from sftkit.engines.base import Sample
from sftkit.filter.verdicts import decide, parse_verdict
from sftkit.runner.passes import model_slug

FILTER = "hpc/filter.py"


@pytest.mark.parametrize(
    ("text", "finish", "expected"),
    [
        ("Same value.\nVERDICT: yes", "stop", "yes"),
        ("They differ.\n\nverdict: No.", "stop", "no"),
        ("**VERDICT: YES**", "stop", "yes"),
        ("The values agree.\n\n**VERDICT:** yes", "stop", "yes"),
        ("## Verdict: no", "stop", "no"),
        ("VERDICT: yes\nActually, wait, no.", "stop", "unparseable"),  # only the last line counts
        ("The answer looks right", "stop", "unparseable"),
        ("Let me check the candidate carefully and", "length", "truncated"),
        ("VERDICT: yes", "length", "truncated"),  # cut at the limit: no final answer, whatever it says
        ("<think>\nThe candidate says 7, the gold is 7, so VERDICT: yes", "stop", "truncated"),  # never closed
        ("<think>\nSame.\n</think>\n\nVERDICT: yes", "stop", "yes"),
        ("Same day.\n\nVERDICT: yes\n```", "stop", "yes"),  # a closing fence is not the last line
        ("Same day.\n\n---\nVERDICT: Yes!", "stop", "yes"),
        ("VERDICT: yes (equivalent forms)", "stop", "yes"),
        ("VERDICT: yes (not equivalent)", "stop", "unparseable"),  # says both
        ("VERDICT: Yes (they don't match)", "stop", "unparseable"),
        ("VERDICT: no (not equivalent)", "stop", "no"),
        ("VERDICT: yes, but only if x > 0", "stop", "unparseable"),
        ("", "stop", "unparseable"),
    ],
)
def test_verdicts_are_parsed_strictly(text: str, finish: str, expected: str) -> None:
    assert parse_verdict(Sample.from_text(text, finish_reason=finish)) == expected


def test_unusable_votes_are_neither_yes_nor_no() -> None:
    assert decide(["yes", "no", "yes"], 2) is True
    assert decide(["no", "no", "unparseable"], 2) is False  # 2 yes are out of reach
    assert decide(["yes", "no", "unparseable"], 2) is None  # the third vote would have decided
    assert decide(["yes", "unparseable", "truncated"], 2) is None
    assert decide(["unparseable"], 1) is None and decide(["no"], 1) is False
    assert decide(["unparseable", "truncated"], 1) is None


def test_numbers_as_gold_answers_become_the_text_a_person_writes() -> None:
    from sftkit.data.fields import number_text

    assert [number_text(x) for x in (7, 7.0, 0.25, 1e-05, 1e16)] == ["7", "7", "0.25", "0.00001", "10000000000000000"]
    assert number_text(1e23) == "1" + "0" * 23  # the digits written, not the binary expansion 99999999999999991611392
    assert verify_answer(number_text(1e-05), "\\boxed{0.00001}") is True  # "1e-05" parses as E - 5


def test_math_verify_decides_equivalence_not_substrings() -> None:
    assert verify_answer("7", "The answer is \\boxed{7}.") is True
    assert verify_answer("7", "so \\boxed{\\frac{14}{2}}") is True
    assert verify_answer("7", "The answer is \\boxed{17}") is False  # '7' is a substring of '17'
    assert verify_answer("\\frac{1}{2}", "\\boxed{0.5}") is True
    assert verify_answer("7", "I do not know") is None


@pytest.fixture
def judged(tmp_path: Path) -> Path:
    rows = (
        [
            {
                "id": f"right{i}",
                "problem": f"What is {i} + 1?",
                "expected_answer": str(i + 1),
                "candidate": f"So the answer is \\boxed{{{i + 1}}}.",
            }
            for i in range(5)
        ]
        + [
            {
                "id": f"wrong{i}",
                "problem": f"What is {i} + 1?",
                "expected_answer": str(i + 1),
                "candidate": f"\\boxed{{{i + 11}}}",
            }
            for i in range(3)
        ]
        + [
            {
                "id": f"vague{i}",
                "problem": "What is 2 + 2?",
                "expected_answer": "4",
                "candidate": "It is even, I think.",
            }
            for i in range(2)
        ]
    )
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judge_only_counts_are_exact_through_math_verify(judged: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    run_script(
        FILTER,
        "--input",
        str(judged),
        "--judge-only",
        "--candidate-field",
        "candidate",
        "--judge",
        "never",
        "--min-pass-rate",
        "1",
        "--output",
        str(out),
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    every = [json.loads(line) for line in (tmp_path / "kept.full.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in kept) == [f"right{i}" for i in range(5)]
    assert len(every) == 10 and {r["id"]: r["pass_rate"] for r in every}["wrong0"] == 0.0
    assert [r["samples"][0]["correct"] for r in every if r["id"].startswith("vague")] == [None, None]
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert (counts["candidates correct"], counts["candidates incorrect"], counts["candidates undecided"]) == (5, 3, 2)


def test_unparseable_candidates_go_to_the_judge(judged: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "kept.jsonl"
    run_script(
        FILTER,
        "--input",
        str(judged),
        "--judge-only",
        "--candidate-field",
        "candidate",
        "--judgement-model",
        str(tiny_model),
        "--judgement-model",
        str(tiny_model),
        "--judgement-engine",
        "hf",
        "--judgement-dtype",
        "fp32",
        "--judge-max-tokens",
        "24",
        "--output",
        str(out),
    )
    every = {r["id"]: r for r in map(json.loads, (tmp_path / "kept.full.jsonl").read_text().splitlines())}
    for rid, row in every.items():
        sample = row["samples"][0]
        if rid.startswith("vague"):  # math-verify cannot parse it: both judges were asked
            assert [v["judge"] for v in sample["verdicts"]] == [str(tiny_model)] * 2
            assert all(v["verdict"] in ("yes", "no", "unparseable", "truncated") for v in sample["verdicts"])
        else:
            assert "verdicts" not in sample and sample["correct"] == rid.startswith("right")
    assert every["right0"]["filter"]["min_votes"] == 2


@pytest.fixture(scope="module")
def sampled(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_ensemble: list[Path]
) -> tuple[Path, list[str], subprocess.CompletedProcess[str]]:
    """One run of the filter, sampling (temperature 0.8) on the hf engine, judged by a second model and by
    the solver's own, every candidate (--judge always): the reference the other runs must equal."""
    folder = tmp_path_factory.mktemp("sampled")
    data = folder / "problems.jsonl"
    data.write_text(
        "".join(json.dumps({"problem": f"What is {i} + {i}?", "expected_answer": str(2 * i)}) + "\n" for i in range(40))
    )
    common = [
        "--input",
        str(data),
        "--inference-model",
        str(tiny_model),
        "--inference-engine",
        "hf",
        "--inference-batch-size",
        "4",
        "--inference-dtype",
        "fp32",
        "--samples",
        "2",
        "--temperature",
        "0.8",
        "--max-tokens",
        "40",
        "--judge",
        "always",
        "--judgement-model",
        str(tiny_ensemble[1]),
        "--judgement-model",
        str(tiny_model),
        "--judgement-engine",
        "hf",
        "--judgement-dtype",
        "fp32",
        "--judge-max-tokens",
        "6",
        "--min-pass-rate",
        "0.5",
        "--save-per-iteration",
        "4",
    ]
    return folder, common, run_script(FILTER, *common, "--output", str(folder / "one.jsonl"))


def loads(stderr: str) -> list[str]:
    return re.findall(r"(?:loading|released) model \S+", stderr)


def test_the_filter_solves_every_row_then_judges_one_model_at_a_time(
    sampled, tiny_model: Path, tiny_ensemble: list[Path]
) -> None:
    folder, _, proc = sampled
    solver, judge = str(tiny_model), str(tiny_ensemble[1])
    # the solver judges right after solving, on the weights it has loaded; then it is released before the
    # other judge loads: never two models at once, and each loaded once
    assert loads(proc.stderr) == [
        f"loading model {solver}",
        f"released model {solver}",
        f"loading model {judge}",
        f"released model {judge}",
    ]
    passes = folder / "one.jsonl.passes"
    assert sorted(p.name for p in passes.iterdir()) == [
        f"{name}.jsonl.parts" for name in ("judge-0-" + model_slug(judge), "judge-1-" + model_slug(solver), "solve")
    ]
    every = [json.loads(line) for line in (folder / "one.full.jsonl").read_text().splitlines()]
    assert len(every) == 40 and {r["n_samples"] for r in every} == {2}
    assert len({c["answer"] for r in every for c in r["samples"]}) > 40  # sampled, not greedy
    judged = [c for r in every for c in r["samples"] if "verdicts" in c]
    assert judged and all([v["judge"] for v in c["verdicts"]] == [judge, solver] for c in judged)  # flag order
    for row in every:  # pass rate over decided candidates, and the band decides what is kept
        for c in row["samples"]:
            assert c["correct"] == (
                decide([v["verdict"] for v in c["verdicts"]], 2) if "verdicts" in c else c["verified"]
            )
        decided = [c["correct"] for c in row["samples"] if c["correct"] is not None]
        assert row["n_correct"] == sum(decided) and row["n_decided"] == len(decided)
        assert row["pass_rate"] == (sum(decided) / len(decided) if decided else None)
        assert row["kept"] == (row["pass_rate"] is not None and row["pass_rate"] >= 0.5)
    kept = [json.loads(line) for line in (folder / "one.jsonl").read_text().splitlines()]
    assert kept == [r for r in every if r["kept"]]


def test_sampled_shards_merge_to_one_run_and_a_kill_mid_judge_resumes_in_that_pass(
    sampled, tiny_model: Path, tiny_ensemble: list[Path]
) -> None:
    folder, common, _ = sampled
    for i in range(3):
        run_script(FILTER, *common, "--shard", f"{i}/3", "--output", str(folder / "three.jsonl"))
    run_script("hpc/merge_shards.py", "--output", str(folder / "three.jsonl"))
    for name in ("one.jsonl", "one.full.jsonl"):
        assert (folder / name).read_text() == (folder / name.replace("one", "three")).read_text()

    killed = folder / "killed.jsonl"
    ckpt = Path(f"{killed}.passes") / f"judge-0-{model_slug(str(tiny_ensemble[1]))}.jsonl.parts"
    worker = subprocess.Popen(
        [sys.executable, str(REPO / FILTER), *common, "--output", str(killed)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while len(list(ckpt.glob("*.ckpt/chunk-*.json"))) < 2 and worker.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL and not killed.exists()
    # resumed with other checkpoint intervals: the finished passes are not redone, their models not loaded
    resumed = run_script(FILTER, *common, "--save-per-iteration", "3", "--output", str(killed))
    assert resumed.stderr.count("already complete, nothing to redo") == 2  # the solve pass, the solver's judging
    assert "resuming at row" in resumed.stderr
    assert loads(resumed.stderr) == [f"loading model {tiny_ensemble[1]}", f"released model {tiny_ensemble[1]}"]
    assert killed.read_text() == (folder / "one.jsonl").read_text()
    assert (folder / "killed.full.jsonl").read_text() == (folder / "one.full.jsonl").read_text()
