"""The solve-and-judge filter on real tiny models: judges asked only where math-verify cannot decide,
one model at a time, sharded runs merged, a kill mid-judge resumed."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_command

from sftkit.filter.verdicts import decide
from sftkit.runner.passes import model_slug

pytestmark = pytest.mark.models

FILTER = "hpc/filter.py"


def test_unparseable_candidates_go_to_the_judge(judged: Path, tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "kept.jsonl"
    run_command(
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
    return folder, common, run_command(FILTER, *common, "--output", str(folder / "one.jsonl"))


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
        run_command(FILTER, *common, "--shard", f"{i}/3", "--output", str(folder / "three.jsonl"))
    run_command("hpc/merge_shards.py", "--output", str(folder / "three.jsonl"))
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
    resumed = run_command(FILTER, *common, "--save-per-iteration", "3", "--output", str(killed))
    assert resumed.stderr.count("already complete, nothing to redo") == 2  # the solve pass, the solver's judging
    assert "resuming at row" in resumed.stderr
    assert loads(resumed.stderr) == [f"loading model {tiny_ensemble[1]}", f"released model {tiny_ensemble[1]}"]
    assert killed.read_text() == (folder / "one.jsonl").read_text()
    assert (folder / "killed.full.jsonl").read_text() == (folder / "one.full.jsonl").read_text()
