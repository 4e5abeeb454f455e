"""Realistic completions (tests/corpus/realistic.yaml) replayed through the real stages.

A scripted OpenAI-compatible server on 127.0.0.1 returns the corpus' completions with their
finish_reason; the stage code, the engine client, the parsing and math-verify all run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import REALISTIC, read_jsonl, realistic_script, remote, run_command, write_jsonl

pytestmark = pytest.mark.stages

FILTER, GENERATE = "hpc/filter.py", "hpc/generate.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from servers import scripted

    with scripted(realistic_script(), tmp_path_factory.mktemp("scripted")) as (url, log):
        yield url, log


PROBLEM = REALISTIC["solve"][0]["problem"]
BAD_ROWS = [
    ({"id": "no-gold", "problem": PROBLEM}, "field 'expected_answer' is missing"),
    ({"id": "null-problem", "problem": None, "expected_answer": "7"}, "field 'problem' is null"),
    ({"id": "empty-gold", "problem": PROBLEM, "expected_answer": ""}, "field 'expected_answer' is empty"),
    ({"id": "list-gold", "problem": PROBLEM, "expected_answer": ["nested"]}, "field 'expected_answer' is a list"),
    ({"id": "bool-problem", "problem": True, "expected_answer": "7"}, "field 'problem' is a boolean"),
]


def test_filter_counts_only_finished_answers_and_decided_verdicts(server: tuple[str, Path], tmp_path: Path) -> None:
    url, log = server
    rows = [
        {"id": s["id"], "problem": s["problem"], "expected_answer": s["expected_answer"]} for s in REALISTIC["solve"]
    ]
    rows += [row for row, _ in BAD_ROWS] + [{"id": "number-gold", "problem": PROBLEM, "expected_answer": 7}]
    data = write_jsonl(tmp_path / "problems.jsonl", rows)
    out = tmp_path / "kept.jsonl"
    run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        *remote(url, "judgement-"),
        "--samples",
        "2",
        "--on-bad-record",
        "skip",
        "--output",
        str(out),
        "--save-per-iteration",
        "4",
    )
    every = {r["id"]: r for r in read_jsonl(tmp_path / "kept.full.jsonl")}
    for s in REALISTIC["solve"]:
        if s["expect"].get("refused"):
            assert s["id"] not in every
            continue
        row, want = every[s["id"]], s["expect"]
        assert row["pass_rate"] == want["pass_rate"], s["id"]
        assert [c["correct"] for c in row["samples"]] == want["correct"], s["id"]
        assert [c["truncated"] for c in row["samples"]] == want["truncated"], s["id"]
        assert row["kept"] == (want["pass_rate"] is not None), s["id"]
    assert every["number-gold"]["pass_rate"] == 0.5 and every["number-gold"]["expected_answer"] == "7"
    # a truncated candidate never reaches a judge, and a judge without a verdict is no "no"
    assert all("verdicts" not in c for c in every["cut-mid-think-while-doubting"]["samples"])
    assert [v["verdict"] for c in every["judge-rambles-without-verdict"]["samples"] for v in c["verdicts"]] == [
        "unparseable"
    ] * 2
    assert [v["verdict"] for c in every["judge-cut-mid-think"]["samples"] for v in c["verdicts"]] == ["truncated"] * 2
    kept_ids = {r["id"] for r in read_jsonl(out)}
    assert kept_ids == {i for i, r in every.items() if r["pass_rate"] is not None}

    rejects = {r["record"]["id"]: r for r in read_jsonl(Path(f"{out}.rejects.jsonl"))}
    for row, reason in BAD_ROWS:
        assert reason in rejects[row["id"]]["reason"] and rejects[row["id"]]["location"].startswith(str(data))
    assert "maximum context length" in rejects["over-the-context"]["reason"]
    assert len(rejects) == len(BAD_ROWS) + 1
    sent = log.read_text()
    assert "null-problem" not in sent and '"None"' not in sent and "nested" not in sent
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert counts["samples truncated (no final answer): scripted"] == 2
    assert counts["undecided (no decided candidate)"] == 2
    assert counts["rows refused by the solver (prompt over the context)"] == 1


def test_a_bad_row_is_a_one_line_error_naming_file_line_and_field(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = server
    data = write_jsonl(
        tmp_path / "bad.jsonl",
        [{"id": "ok", "problem": PROBLEM, "expected_answer": "7"}, {"id": "no-gold", "problem": PROBLEM}],
    )
    proc = run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        "--judge",
        "never",
        "--output",
        str(tmp_path / "out.jsonl"),
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{data}:2: field 'expected_answer' is missing" in proc.stderr
    # a chunk in which no row has the field is still a per-row reject, whatever --save-per-iteration says
    out = tmp_path / "skip.jsonl"
    run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        "--judge",
        "never",
        "--on-bad-record",
        "skip",
        "--save-per-iteration",
        "1",
        "--output",
        str(out),
    )
    assert [r["record"]["id"] for r in read_jsonl(Path(f"{out}.rejects.jsonl"))] == ["no-gold"]
    assert [r["id"] for r in read_jsonl(tmp_path / "skip.full.jsonl")] == ["ok"]


def test_a_server_that_refuses_every_prompt_is_an_error_not_a_quarantine(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = server
    refused = next(s for s in REALISTIC["solve"] if "status" in s)
    data = write_jsonl(
        tmp_path / "all.jsonl",
        [{"id": f"r{i}", "problem": refused["problem"], "expected_answer": "1"} for i in range(3)],
    )
    proc = run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        "--judge",
        "never",
        "--output",
        str(tmp_path / "out.jsonl"),
        check=False,
    )
    assert proc.returncode == 2 and "every prompt of this chunk was refused" in proc.stderr


def test_a_judge_on_the_solvers_model_but_another_server_gets_its_own_requests(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = server
    judge_url = url.replace("127.0.0.1", "localhost")  # the same scripted server under another base URL
    problem = next(s for s in REALISTIC["solve"] if s["id"] == "judge-says-yes-in-markdown")
    data = write_jsonl(
        tmp_path / "one.jsonl",
        [{"id": "j", "problem": problem["problem"], "expected_answer": problem["expected_answer"]}],
    )
    run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        *remote(judge_url, "judgement-"),
        "--samples",
        "1",
        "--output",
        str(tmp_path / "out.jsonl"),
    )
    row = read_jsonl(tmp_path / "out.full.jsonl")[0]
    assert row["filter"]["judges"][0]["base_url"] == judge_url and row["pass_rate"] == 1.0


def test_greedy_samples_are_decoded_once_and_repeated(server: tuple[str, Path], tmp_path: Path) -> None:
    url, log = server
    data = write_jsonl(tmp_path / "one.jsonl", [{"id": "g", "problem": PROBLEM, "expected_answer": "7"}])
    before = len(log.read_text().splitlines())
    out = tmp_path / "greedy.jsonl"
    run_command(
        FILTER,
        "--input",
        str(data),
        *remote(url, "inference-"),
        "--judge",
        "never",
        "--temperature",
        "0",
        "--samples",
        "3",
        "--output",
        str(out),
    )
    requests = [json.loads(line)["request"] for line in log.read_text().splitlines()[before:]]
    assert [r["n"] for r in requests] == [1]  # vllm serve refuses greedy n > 1
    row = read_jsonl(tmp_path / "greedy.full.jsonl")[0]
    assert row["n_samples"] == 3 and [c["correct"] for c in row["samples"]] == [True] * 3


def test_generation_keeps_latex_byte_exact_and_rejects_cut_generations(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = server
    seeds = write_jsonl(
        tmp_path / "seeds.jsonl",
        [{"id": g["id"], "problem": g["seed"], "expected_answer": "1"} for g in REALISTIC["generate"]],
    )
    out = tmp_path / "generated.jsonl"
    run_command(GENERATE, "--input", str(seeds), *remote(url), "--output", str(out))
    kept = {r["seed_id"]: r for r in read_jsonl(out)}
    rejected = {r["record"]["seed_id"]: r["reason"] for r in read_jsonl(Path(f"{out}.rejects.jsonl"))}
    for g in REALISTIC["generate"]:
        if "expect" in g:
            assert (kept[g["id"]]["question"], kept[g["id"]]["answer"]) == (
                g["expect"]["question"],
                g["expect"]["answer"],
            ), g["id"]
        else:
            assert g["id"] not in kept and rejected[g["id"]] == g["reject"], g["id"]
    for rec in kept.values():
        for text in (rec["question"], rec["answer"]):
            assert not any(ord(ch) < 32 and ch != "\n" for ch in text)


def test_ensemble_accuracy_counts_only_finished_answers(server: tuple[str, Path], tmp_path: Path) -> None:
    from sftkit.data.shards import WHOLE
    from sftkit.data.sources import InputSpec, open_source
    from sftkit.difficulty.passes import EnsemblePass
    from sftkit.engines.base import ChatOptions, Sampling
    from sftkit.engines.openai_compat import OpenAIEngine
    from sftkit.filter.verdicts import SOLVE_PROMPT
    from sftkit.models.tiny import tiny_tokenizer
    from sftkit.runner.stage import run_stage

    url, _ = server
    wanted = {
        "qwen3-right-and-substring-wrong": [1, 2],
        "r1-closing-tag-only": [2, 2],
        "cut-mid-think-while-doubting": [0, 2],
        "latex-equivalent-forms": [2, 2],
        "over-the-context": [0, 0],
    }
    solve = [s for s in REALISTIC["solve"] if s["id"] in wanted]
    solve.append(
        {
            "id": "over --max-input-length",
            "problem": "How many primes are below " + "ten " * 300 + "?",
            "expected_answer": "4",
        }
    )  # never sent: the server has no script for it
    wanted[solve[-1]["id"]] = [0, 0]
    data = write_jsonl(
        tmp_path / "items.jsonl",
        [{"id": s["id"], "problem": s["problem"], "expected_answer": s["expected_answer"]} for s in solve],
    )
    tokenizer = tiny_tokenizer(tmp_path / "tiny")  # the tiny model's tokenizer counts prompt tokens (no training)
    engine = OpenAIEngine(str(tokenizer), ChatOptions(), url)
    step = EnsemblePass(
        lambda: engine,
        Sampling(max_tokens=64, temperature=0.7, n=2),
        SOLVE_PROMPT,
        256,
        "id",
        "problem",
        "expected_answer",
    )
    out = tmp_path / "answers.jsonl"
    run = run_stage(
        stage="answers",
        source=open_source(InputSpec(str(data))),
        shard=WHOLE,
        output=out,
        settings={},
        process=step,
        every=8,
        batch_size=8,
        on_bad_record="error",
    )
    got = {solve[r["row"]]["id"]: [r["correct"], r["total"]] for r in read_jsonl(out)}
    assert got == wanted  # the old code counted the doubted \boxed{40} of the cut samples: [2, 2]
    assert run.marker["counts"]["samples truncated (no final answer)"] == 2
    assert run.marker["counts"]["prompts refused by the engine"] == 1
    assert run.marker["counts"]["prompt over --max-input-length"] == 1
