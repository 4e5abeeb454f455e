"""The model-based difficulty scorer end to end with three real tiny models: sharded and merged equals
one run, a kill mid-pass resumes to the same bytes, vLLM and transformers agree, failures are named."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, run_command, run_script

from sftkit.runner.passes import model_slug

pytestmark = pytest.mark.models

SCORER = "hpc/difficulty_scorer.py"
LONG_QUESTION, LONG_ANSWER = 7, 13


def arithmetic(path: Path, rows: int = 40) -> Path:
    """Questions in the tiny models' training format, one too long to send, one answer too long to score."""
    lines = []
    for i in range(rows):
        a, b = (i * 7) % 50, (i * 11) % 50
        question, answer = (f"Compute {a} times 2.", str(2 * a)) if i % 3 == 2 else (f"What is {a} + {b}?", str(a + b))
        if i == LONG_QUESTION:
            question += " Think it through carefully and check every step twice."
        if i == LONG_ANSWER:
            answer += ", since adding the tens and then the units gives it" * 8
        lines.append(json.dumps({"problem": question, "expected_answer": answer, "source": f"row{i}"}) + "\n")
    path.write_text("".join(lines))
    return path


def scorer_args(data: Path, models: list[Path], prompt: Path, engine: str = "hf") -> list[str]:
    return [
        "--input",
        str(data),
        "--primary-model",
        str(models[0]),
        "--ensemble-models",
        *(str(m) for m in models[1:]),
        "--engine",
        engine,
        "--use-float32",
        "--samples",
        "3",
        "--temperature",
        "0.8",
        "--max-new-tokens",
        "24",
        "--max-sequence-length",
        "96",
        "--max-input-length",
        "48",
        "--prompt-file",
        str(prompt),
        "--save-per-iteration",
        "5",
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_ensemble: list[Path]) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("difficulty")
    prompt = folder / "prompt.txt"
    prompt.write_text("{{question}}")  # the tiny models were trained on bare questions
    return folder, scorer_args(arithmetic(folder / "problems.jsonl"), tiny_ensemble, prompt)


@pytest.fixture(scope="module")
def one_run(setup: tuple[Path, list[str]]) -> Path:
    folder, args = setup
    run_command(SCORER, *args, "--output", str(folder / "one.jsonl"))
    return folder / "one.jsonl"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scores_every_item_with_every_model_and_a_global_fit(one_run: Path, tiny_ensemble: list[Path]) -> None:
    scored = read(one_run)
    assert len(scored) == 40 and [r["id"] for r in scored] == [f"problems-{i}" for i in range(40)]
    models = {str(m) for m in tiny_ensemble}
    for r in scored:
        assert {
            "question",
            "answer",
            "avg_logprob",
            "n_answer_tokens",
            "truncated",
            "ensemble_acc",
            "irt_beta",
            "irt_beta_se",
            "difficulty_z",
        } <= r.keys() and set(r["responses"]) == models
        correct, total = (sum(pair[k] for pair in r["responses"].values()) for k in (0, 1))
        if total:
            assert r["ensemble_acc"] == pytest.approx(correct / total) and r["irt_beta_se"] > 0
        assert r["avg_logprob"] < 0 and r["n_answer_tokens"] > 0
    long = scored[LONG_QUESTION]  # over --max-input-length for every model: accuracy unknown, not 0
    assert all(pair == [0, 0] for pair in long["responses"].values())
    assert long["ensemble_acc"] is long["irt_beta"] is long["irt_beta_se"] is None
    assert all(pair[1] == 3 for i, r in enumerate(scored) if i != LONG_QUESTION for pair in r["responses"].values())
    assert scored[LONG_ANSWER]["truncated"] and sum(r["truncated"] for r in scored) == 1
    accuracy = [sum(r["responses"][m][0] for r in scored) for m in sorted(models)]
    assert len(set(accuracy)) > 1 and 0 < sum(accuracy) < 3 * 3 * 39  # the models differ, and are not perfect
    # Rasch with the same models and sample counts per item: more right answers always means lower beta
    full = [r for i, r in enumerate(scored) if i != LONG_QUESTION]
    for a in full:
        for b in full:
            if a["ensemble_acc"] > b["ensemble_acc"]:
                assert a["irt_beta"] < b["irt_beta"]
    z = np.array([r["difficulty_z"] for r in scored])
    assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)
    assert one_run.with_name("one.difficulty.png").stat().st_size > 1000
    stats = json.loads(Path(f"{one_run}.stats.json").read_text())
    assert stats["items"] == 40 and stats["truncated"] == 1 and stats["duplicate_ids"] == 0
    assert stats["unanswered"] == 1


def test_refit_from_the_responses_file_reproduces_the_scores(one_run: Path, tmp_path: Path) -> None:
    responses = one_run.with_name("one.responses.jsonl")
    run_command(SCORER, "--from-responses", str(responses), "--output", str(tmp_path / "refit.jsonl"))
    assert (tmp_path / "refit.jsonl").read_bytes() == one_run.read_bytes()
    run_command(
        SCORER,
        "--from-responses",
        str(responses),
        "--output",
        str(tmp_path / "two_pl.jsonl"),
        "--irt-model",
        "2pl",
        "--logprob-weight",
        "0",
    )
    refit = read(tmp_path / "two_pl.jsonl")
    assert [r["irt_beta"] for r in refit] != [r["irt_beta"] for r in read(one_run)]


def test_shards_merged_through_the_stage_merge_equal_one_run(setup: tuple[Path, list[str]], one_run: Path) -> None:
    folder, args = setup
    out = folder / "sharded" / "two.jsonl"
    for i in range(2):
        proc = run_command(SCORER, *args, "--shard", f"{i}/2", "--output", str(out))
        assert "after every shard" in proc.stderr and not out.exists()
    merged = subprocess.run(
        [
            sys.executable,
            "-m",
            "sftkit.orchestrate",
            "merge",
            "difficulty_scorer",
            "2",
            "--",
            *args,
            "--output",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert merged.returncode == 0, merged.stderr
    assert out.read_bytes() == one_run.read_bytes()


def test_a_kill_mid_pass_resumes_without_redoing_finished_passes(
    setup: tuple[Path, list[str]], one_run: Path, tiny_ensemble: list[Path]
) -> None:
    folder, args = setup
    out = folder / "killed" / "k.jsonl"
    ckpt = out.with_name("k.jsonl.passes") / f"answers-{model_slug(str(tiny_ensemble[1]))}.jsonl.parts"
    worker = subprocess.Popen(
        [sys.executable, str(REPO / SCORER), *args, "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while len(list(ckpt.glob("*.ckpt/chunk-*.json"))) < 2 and worker.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL and not out.exists()
    resumed = run_command(SCORER, *args, "--output", str(out))
    assert resumed.stderr.count("already complete, nothing to redo") == 2  # logprob and the primary's answers
    assert "resuming at row" in resumed.stderr
    assert out.read_bytes() == one_run.read_bytes()


def test_a_model_that_cannot_load_is_a_named_error(setup: tuple[Path, list[str]], tmp_path: Path) -> None:
    _, args = setup
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    proc = run_command(
        SCORER,
        *args,
        "--ensemble-models",
        str(broken),
        "--exclude-primary",
        "--output",
        str(tmp_path / "x.jsonl"),
        check=False,
    )
    assert proc.returncode == 2 and f"model '{broken}' failed to load" in proc.stderr


def test_vllm_engine_scores_log_probability_and_answers(
    tiny_ensemble: list[Path], one_run: Path, tmp_path: Path
) -> None:
    """The vLLM path end to end: prompt_logprobs equal transformers' values, and one engine per model."""
    data = arithmetic(tmp_path / "problems.jsonl", rows=14)  # the first 14 rows of the transformers run
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("{{question}}")
    proc = run_script(
        SCORER,
        *scorer_args(data, tiny_ensemble[:2], prompt, "vllm"),
        "--enforce-eager",
        "--output",
        str(tmp_path / "v.jsonl"),
        env={"VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    assert (proc.stdout + proc.stderr).count("init engine") == 2  # the primary's engine served both its passes
    vllm, hf = read(tmp_path / "v.jsonl"), read(one_run)[:14]
    for v, h in zip(vllm, hf, strict=True):
        assert v["avg_logprob"] == pytest.approx(h["avg_logprob"], abs=1e-4)
        assert v["n_answer_tokens"] == h["n_answer_tokens"] and v["truncated"] == h["truncated"]
    assert sum(pair[0] for r in vllm for pair in r["responses"].values()) > 0
