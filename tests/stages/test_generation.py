"""Generation from seeds: tagged blocks and LaTeX-keeping JSON, quarantine, bad seed rows, and the stage
end to end on real engines."""

import json
from pathlib import Path

import pytest

from sftkit.data.shards import WHOLE
from sftkit.data.sources import InputSpec, open_source
from sftkit.engines.base import Sampling
from sftkit.errors import InputError
from sftkit.generate.seed import DEFAULT_PROMPT, SeedGenerator
from sftkit.runner.stage import run_stage

pytestmark = pytest.mark.stages


REFUSAL = "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens."
SCRIPT = [  # served by sftkit/models/replay_server.py to the real OpenAI-compatible engine
    {
        "match": ["What is 2 + 3?"],
        "choices": [
            {"content": "<question>What is $\\sqrt{49} + 3$?</question><answer>10</answer>", "finish_reason": "stop"},
            {"content": '{"question": "What is 7 + 8?", "answer": "15"}', "finish_reason": "length"},
            {"content": '<think>\n{"question": "What is 7 + 8?", "answer": "15"}', "finish_reason": "stop"},
        ],
    },
    {"match": ["What is 4 + 4?"], "status": 400, "error": REFUSAL},
    {
        "match": ["What is 6 + 1?"],
        "choices": [{"content": "<question>What is 6 + 2?</question><answer>8</answer>", "finish_reason": "stop"}],
    },
]
SEED_ROWS = [
    {"id": "good", "problem": "What is 2 + 3?", "expected_answer": "5"},
    {"id": "refused", "problem": "What is 4 + 4?", "expected_answer": 8},
    {"id": "missing", "expected_answer": "1"},
    {"id": "null", "problem": None, "expected_answer": "1"},
    {"id": "empty", "problem": "", "expected_answer": "1"},
    {"id": "list", "problem": ["What is 1 + 1?"], "expected_answer": "2"},
    {"id": "no-answer", "problem": "What is 6 + 1?", "expected_answer": None},
]


def _generate(tmp_path: Path, template: str, policy: str, rows: list[dict] = SEED_ROWS) -> tuple:
    from servers import scripted

    from sftkit.engines.base import ChatOptions
    from sftkit.engines.openai_compat import OpenAIEngine

    tmp_path.mkdir(exist_ok=True)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "gen.jsonl"
    with scripted(SCRIPT, tmp_path) as (url, log):
        engine = OpenAIEngine("scripted", ChatOptions(), url)
        step = SeedGenerator(
            engine, Sampling(n=3, temperature=0.7), template, "problem", "expected_answer", "id", engine.describe()
        )
        run = run_stage(
            stage="generate",
            source=open_source(InputSpec(str(seeds))),
            shard=WHOLE,
            output=out,
            settings={"t": 1},
            process=step,
            every=10,
            batch_size=10,
            on_bad_record=policy,
        )
        sent = log.read_text().splitlines() if log.exists() else []
        prompts = [json.loads(line)["request"]["messages"][-1]["content"] for line in sent]
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    return run.marker["counts"], kept, rejects, prompts


def test_seed_generator_quarantines_cut_and_refused_and_skips_bad_seed_rows(tmp_path: Path) -> None:
    counts, kept, rejects, prompts = _generate(tmp_path, DEFAULT_PROMPT, "skip")
    assert len(prompts) == 2 and any("Answer: 8\n" in p for p in prompts)  # a numeric gold answer is its text
    assert [(r["id"], r["question"], r["answer"]) for r in kept] == [("good-gen0", r"What is $\sqrt{49} + 3$?", "10")]
    assert kept[0]["generation"]["engine"] == "openai" and kept[0]["seed_question"] == "What is 2 + 3?"
    by_where = {(r["location"], r["reason"]): r["record"] for r in rejects}
    seeds = str(tmp_path / "seeds.jsonl")
    refused = next(r["reason"] for r in rejects if r["location"] == f"{seeds}:2")
    assert REFUSAL in refused and refused.endswith(
        "refused the prompt: " + json.dumps({"error": {"message": REFUSAL, "type": "BadRequestError"}})
    )
    assert set(by_where) == {
        (f"{seeds}:1", "cut at the token limit (finish_reason=length)"),
        (f"{seeds}:1", "reasoning never closed"),
        (f"{seeds}:2", refused),
        (f"{seeds}:3", "field 'problem' is missing (the row has: id, expected_answer)"),
        (f"{seeds}:4", "field 'problem' is null"),
        (f"{seeds}:5", "field 'problem' is empty"),
        (f"{seeds}:6", "field 'problem' is a list, not text"),
        (f"{seeds}:7", "field 'expected_answer' is null"),
    }
    assert by_where[(f"{seeds}:1", "cut at the token limit (finish_reason=length)")] == {
        "seed_id": "good",
        "sample": 1,
        "text": '{"question": "What is 7 + 8?", "answer": "15"}',
    }
    assert by_where[(f"{seeds}:2", refused)] == {"seed_id": "refused", "sample": None, "text": None}
    assert by_where[(f"{seeds}:6", "field 'problem' is a list, not text")]["id"] == "list"
    assert counts == {
        "seeds": 7,
        "seed rows unusable (bad input)": 5,
        "seeds refused (prompt never sent)": 1,
        "generated": 3,
        "kept": 1,
        "rejected: cut at the token limit (finish_reason=length)": 1,
        "rejected: reasoning never closed": 1,
    }


def test_seed_generator_needs_the_answer_only_when_the_prompt_uses_it(tmp_path: Path) -> None:
    counts, kept, rejects, prompts = _generate(tmp_path, "Make a harder problem from this one: {{question}}", "skip")
    assert len(prompts) == 3  # the server answers n=3 with its one scripted choice three times
    assert [r["id"] for r in kept] == ["good-gen0", "no-answer-gen0", "no-answer-gen1", "no-answer-gen2"]
    assert counts["seed rows unusable (bad input)"] == 4 and not any(
        r["reason"].startswith("field 'expected_answer'") for r in rejects
    )
    # a field no row of the chunk has is still a per-row reject (chunking must not decide a row's fate), and a
    # run that rejected every row and kept none stops saying so, naming that reason from the rejects file
    with pytest.raises(InputError, match=r"1 rejected, 0 kept of 1 rows \(1 field 'expected_answer' is missing"):
        _generate(tmp_path / "mapping", DEFAULT_PROMPT, "skip", [{"id": "a", "problem": "What is 2 + 3?"}])


def test_bad_seed_row_under_on_bad_record_error_names_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        _generate(tmp_path, DEFAULT_PROMPT, "error")
    assert str(error.value).startswith(
        f"{tmp_path / 'seeds.jsonl'}:3: field 'problem' is missing (the row has: id, expected_answer) (and 4 more"
    )
