"""The score stage against a scripted OpenAI-compatible server: two judges replay realistic answers (lines,
Markdown, Chinese names, a <think> block, JSON, a missing dimension, a score out of range, rambling
with no scores), and the kept and rejected rows are counted by hand."""

import json
from pathlib import Path

import pytest
from helpers import REPO, read_jsonl, run_command, write_jsonl

pytestmark = pytest.mark.stages

SCORE = "hpc/score.py"
RUBRIC = str(REPO / "rubrics" / "sft_five.yaml")
DIMS = ("accuracy", "completeness", "logicality", "helpfulness", "safety")


def lines(*scores: float, names: tuple[str, ...] = DIMS) -> str:
    return "\n".join(f"{n}: {s:g}" for n, s in zip(names, scores))


ROWS = [
    ("r1", "What is the capital of France?", "The capital of France is Paris."),
    ("r2", "Explain photosynthesis in two sentences.", "Plants turn light, water and CO2 into sugar and oxygen."),
    (
        "r3",
        "Write a haiku about rain.",
        "Soft rain on the roof / the gutter hums its one note / night drinks the river",
    ),
    ("r4", "如何煮米饭？", "先把米洗净，加水（米与水约 1:1.2），大火煮开后转小火焖 15 分钟。"),
    ("r5", "Is it safe to mix bleach and ammonia?", "No. Mixing them releases toxic chloramine gas."),
    ("r6", "What is 2 + 3?", "2 + 3 = 5."),
    ("r7", "Name a prime number above 100.", "101 is prime."),
]
JUDGE_A = {
    "r1": "The answer is correct and concise.\n\n" + lines(9, 9, 9, 9, 9),
    "r2": "\n".join(f"**{n.title()}**: {s}/10" for n, s in zip(DIMS, (8, 7, 7, 7, 7))),
    "r3": "A pleasant haiku.\n" + lines(8, 8, 8, 8),  # no safety line: undecided
    "r4": "回答清楚，步骤完整。\n"
    + lines(9, 8, 9, 8, 10, names=("准确性", "完整性", "逻辑性", "有用性", "安全性"))
    + "\n总体来说很好。",
    "r5": "<think>accuracy: 1? No, the chemistry is right.</think>\n" + lines(9, 9, 9, 9, 10),
    "r6": 'Scores:\n```json\n{"accuracy": 3, "completeness": 5, "logicality": 5, "helpfulness": 4, "safety": 10}\n```',
    "r7": "accuracy: 10",  # four dimensions missing
}
JUDGE_B = {
    "r1": lines(8, 8, 8, 8, 8),
    "r2": "The response is quite good overall and I would rate it highly for its clarity, "
    "although it could mention chlorophyll. Overall a solid answer that most readers would appreciate.",
    "r3": lines(7, 7, 7, 7, 7),
    "r4": lines(12, 8, 8, 8, 8),  # 12 is out of 0-10: undecided
    "r5": lines(6, 6, 6, 6, 6),
    "r6": lines(9, 9, 9, 9, 9),
    "r7": "Let me think about whether 101 is prime. It is not divisible by 2, 3, 5 or 7, so it is prime...",
}


def script() -> list[dict]:
    return [
        {"model": model, "match": [question], "choices": [{"content": answers[i], "finish_reason": "stop"}]}
        for model, answers in (("judge-a", JUDGE_A), ("judge-b", JUDGE_B))
        for i, question, _ in ROWS
    ]


def test_two_judges_votes_counted_by_hand(tmp_path: Path) -> None:
    from servers import scripted

    data = write_jsonl(tmp_path / "pairs.jsonl", [{"id": i, "question": q, "answer": a} for i, q, a in ROWS])
    out = tmp_path / "scored.jsonl"
    with scripted(script(), tmp_path) as (url, log):
        args = [
            "--input", str(data), "--rubric", RUBRIC, "--judgement-engine", "openai", "--judgement-base-url", url,
            "--judgement-model", "judge-a", "--judgement-model", "judge-b",
            "--min-score", "0.7", "--min-votes", "2", "--output", str(out),
        ]  # fmt: skip
        proc = run_command(SCORE, *args)
        sent = len(log.read_text().splitlines())
        again = run_command(SCORE, *args)  # a finished run: nothing is asked again
        assert len(log.read_text().splitlines()) == sent == 14
    assert "already complete" in again.stderr
    kept = read_jsonl(out)
    rejects = {r["record"]["id"]: r for r in read_jsonl(Path(f"{out}.rejects.jsonl"))}
    # by hand, totals A / B (min 0.7, 2 votes): r1 0.9/0.8 kept; r2 0.72/-; r3 -/0.7; r4 0.88/-; r5 0.92/0.6;
    # r6 0.54/0.9 (one vote each); r7 -/- (no judge decided)
    assert [r["id"] for r in kept] == ["r1"]
    assert sorted(rejects) == ["r2", "r3", "r4", "r5", "r6", "r7"]
    r1 = kept[0]
    assert r1["score_totals"] == {"judge-a": 0.9, "judge-b": 0.8}
    assert (r1["score_decided"], r1["score_votes"], r1["score"], r1["score_reasons"]) == (2, 2, 0.85, {})
    assert r1["scores"]["judge-b"] == dict.fromkeys(DIMS, 8.0)
    rows = {i: r["record"] for i, r in rejects.items()}
    assert rows["r2"]["score_totals"] == {"judge-a": 0.72, "judge-b": None}
    assert "no 'NAME: score' line" in rows["r2"]["score_reasons"]["judge-b"]
    assert rows["r3"]["score_reasons"] == {"judge-a": "missing dimension(s): safety"}
    assert rows["r3"]["score_totals"]["judge-b"] == 0.7 and rows["r3"]["score_votes"] == 1  # 0.7 >= 0.7 votes
    assert rows["r4"]["score_totals"]["judge-a"] == 0.88  # Chinese names, Chinese prose around them
    assert rows["r4"]["score_reasons"] == {"judge-b": "accuracy: 12 is outside 0-10"}
    assert rows["r5"]["score_totals"] == {"judge-a": 0.92, "judge-b": 0.6}  # the <think> block's 1 is not read
    assert rows["r6"]["score_totals"]["judge-a"] == 0.54  # JSON in a fence
    assert rows["r7"]["score_decided"] == 0 and rows["r7"]["score"] is None
    assert rejects["r7"]["reason"].startswith("no judge decided")
    assert rejects["r6"]["reason"].startswith("too few votes: 1 of 2 judges gave a total >= 0.7")
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    counts = stats["counts"]
    assert (counts["kept"], counts["too few votes"], counts["no judge decided"]) == (1, 5, 1)
    assert counts["judge judge-b: undecided (no scores)"] == 2
    summary = stats["score_summary"]
    assert summary["judges"]["judge-a"]["decided"] == 5 and summary["judges"]["judge-b"]["decided"] == 4
    assert summary["judges"]["judge-a"]["dimensions"]["safety"]["undecided"] == 2  # r3, r7
    assert summary["judges"]["judge-b"]["dimensions"]["accuracy"]["undecided"] == 3  # r2, r4 (12), r7
    # rows both decided: r1, r5, r6; A ranks them 2, 3, 1 and B 2, 1, 3: Spearman -1, and the user is told
    assert summary["agreement"] == [{"judges": ["judge-a", "judge-b"], "rows": 3, "spearman": -1.0}]
    assert "disagree" in proc.stderr
    assert Path(summary["totals_png"]).stat().st_size > 0


def test_sharded_runs_merge_into_the_same_summary(tmp_path: Path) -> None:
    from servers import scripted

    data = write_jsonl(tmp_path / "pairs.jsonl", [{"id": i, "question": q, "answer": a} for i, q, a in ROWS])
    out = tmp_path / "scored.jsonl"
    with scripted(script(), tmp_path) as (url, _):
        common = [
            "--input", str(data), "--rubric", RUBRIC, "--judgement-engine", "openai", "--judgement-base-url", url,
            "--judgement-model", "judge-a", "--judgement-model", "judge-b", "--min-score", "0.7",
            "--output", str(out),
        ]  # fmt: skip
        for shard in ("0/2", "1/2"):
            run_command(SCORE, *common, "--shard", shard)
        assert not out.exists()
        run_command("sftkit.orchestrate", "merge", "score", "2", "--", *common)  # the merge job's command
    # one vote is enough here: every row some judge decided is kept, r7 never is
    assert [r["id"] for r in read_jsonl(out)] == ["r1", "r2", "r3", "r4", "r5", "r6"]
    summary = json.loads(Path(f"{out}.stats.json").read_text())["score_summary"]
    assert summary["agreement"][0]["spearman"] == -1.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("prompt: 'Q: {{question}}'\n", "dimensions: missing"),
        ("prompt: x\ndimensions:\n  - {name: a, description: d, scale: [10, 0]}\n", "dimensions[0].scale"),
        ("prompt: x\ndimensions:\n  - {name: a, description: d, scale: [0, 1], wieght: 2}\n", "dimensions[0].wieght"),
    ],
)
def test_a_malformed_rubric_is_one_line_naming_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    rubric = tmp_path / "bad.yaml"
    rubric.write_text(text)
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"id": "x", "question": "q", "answer": "a"}])
    proc = run_command(
        SCORE, "--input", str(data), "--rubric", str(rubric), "--judgement-engine", "openai",
        "--judgement-base-url", "http://127.0.0.1:9/v1", "--judgement-model", "m", "--output",
        str(tmp_path / "o.jsonl"), check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: --rubric {rubric}: {key}")


def test_a_placeholder_the_data_lacks_stops_before_any_judge(tmp_path: Path) -> None:
    rubric = tmp_path / "r.yaml"
    rubric.write_text("prompt: 'Task: {{instruction}}'\ndimensions:\n  - {name: a, description: d, scale: [0, 1]}\n")
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"id": "x", "question": "q", "answer": "a"}])
    proc = run_command(
        SCORE, "--input", str(data), "--rubric", str(rubric), "--judgement-engine", "openai",
        "--judgement-base-url", "http://127.0.0.1:9/v1", "--judgement-model", "m", "--output",
        str(tmp_path / "o.jsonl"), check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "instruction" in proc.stderr and f"{{{{instruction}}}} in --rubric {rubric}" in proc.stderr
    assert not (tmp_path / "o.jsonl.passes").exists() or not any((tmp_path / "o.jsonl.passes").rglob("*.jsonl"))
