"""Generation from seeds: tagged blocks and LaTeX-keeping JSON, quarantine, bad seed rows, and the stage
end to end on real engines."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers import run_script
from hypothesis import given
from hypothesis import strategies as st

from sftkit.data.shards import WHOLE
from sftkit.data.sources import InputSpec, open_source
from sftkit.engines.base import Sample, Sampling
from sftkit.errors import InputError
from sftkit.generate.latex_json import LATEX_COMMANDS, extract_json_object, loads_keeping_latex
from sftkit.generate.seed import DEFAULT_PROMPT, SeedGenerator, parse_generated, parse_sample
from sftkit.prompts import fill
from sftkit.runner.stage import run_stage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"question": "q", "answer": "1"}', {"question": "q", "answer": "1"}),
        ('Sure!\n```json\n{"question": "q", "answer": "2"}\n```\nDone.', {"question": "q", "answer": "2"}),
        ('Reasoning first... so the result: {"question": "q", "answer": 3}', {"question": "q", "answer": 3}),
        ('{"a": {"question": "inner"}} then {"question": "last", "answer": "4"}', {"question": "last", "answer": "4"}),
        ("no json here {oops", None),
    ],
)
def test_json_is_extracted_from_fences_bare_text_or_a_trailing_object(text: str, expected: dict | None) -> None:
    assert extract_json_object(text) == expected


def test_bad_generations_get_a_reason() -> None:
    seed = "What is 3 + 4?"
    assert parse_generated("", seed) == (None, "empty generation")
    assert parse_generated("I cannot", seed)[1] == "no <question>/<answer> blocks and no JSON object in the generation"
    assert parse_generated("<question>What is 10 + 5?</question> <answer>15", seed)[1] == (
        "no complete <answer>…</answer> block and no JSON object"
    )
    assert parse_generated('{"question": "x"}', seed)[1] == "JSON object lacks a string 'question' and 'answer'"
    assert parse_generated('{"question": " ", "answer": "1"}', seed)[1] == "empty question or answer"
    assert parse_generated('{"question": "what is 3 +  4?", "answer": "7"}', seed)[1] == "copies its seed problem"
    assert parse_generated('{"question": "What is 10 + 5?", "answer": 15}', seed) == (
        {"question": "What is 10 + 5?", "answer": "15"},
        None,
    )


def test_prompt_placeholders_are_filled_once() -> None:
    tricky = 'What is {{answer}}? Use \\boxed{} and {"json": 1}.'
    text = fill(DEFAULT_PROMPT, {"question": tricky, "answer": "42"})
    assert tricky in text and "Answer: 42" in text  # the question's own {{answer}} is not replaced


LATEX = (
    r"Compute $\frac{1}{2} \times \binom{4}{2}$, then $\sqrt{2}$, $\left( x \right)$, $\int_0^1 x\,dx$, "
    r"$a \neq b$, $\nabla f$, $\tan\theta$ in \text{cm}. Give \boxed{3} as a check."
)
LATEX_JSON = '{"question": "' + LATEX.replace('"', '\\"') + r'", "answer": "\\frac{3}{2}"}'  # answer properly escaped


@pytest.mark.parametrize(
    "text",
    [
        LATEX_JSON,
        "Here it is:\n```json\n" + LATEX_JSON + "\n```\n",
        "Let me write a problem about fractions and binomials. Final: " + LATEX_JSON,
    ],
    ids=["bare", "fenced", "trailing"],
)
def test_latex_in_json_keeps_every_backslash(text: str) -> None:
    assert parse_generated(text, "What is 3 + 4?") == ({"question": LATEX, "answer": r"\frac{3}{2}"}, None)


def test_json_repair_keeps_real_escapes() -> None:
    text = (
        '{"question": "A train leaves at noon.\\n\\nHow far has it gone at $\\\\frac{3}{2}$ km per minute '
        '(in \\text{km}) by 12:30?\\nCaf\\u00e9 stop: \\"none\\".", "answer": "45"}'
    )
    assert parse_generated(text, "What is 3 + 4?") == (
        {
            "question": "A train leaves at noon.\n\nHow far has it gone at $\\frac{3}{2}$ km per minute "
            '(in \\text{km}) by 12:30?\nCafé stop: "none".',
            "answer": "45",
        },
        None,
    )
    # a newline before a word and a LaTeX command after \n or \t, side by side
    assert extract_json_object(r'{"question": "\nThe value of $\nu\tau$\nis\ttwice \to", "answer": "x"}') == {
        "question": "\nThe value of $\\nu\\tau$\nis\ttwice \\to",
        "answer": "x",
    }


_AFTER_CONTROL = re.compile(r"([\x08\x0c\r\n\t])([A-Za-z]*)")


def _unambiguous(text: str) -> bool:
    """No place where the repair reads JSON differently on purpose: a backspace, form feed or carriage
    return before a letter, or a newline or tab whose escape runs into a LaTeX name (``\\nu``)."""
    for control, run in _AFTER_CONTROL.findall(text):
        if run and (control in "\x08\x0c\r" or {"\n": "n", "\t": "t"}[control] + run in LATEX_COMMANDS):
            return False
    return True


_JSONISH = st.characters(codec="utf-8") | st.sampled_from(list('\n\t\r\x0c\\"/ nteqaubfrx'))


@given(st.dictionaries(st.text(max_size=8), st.text(_JSONISH, max_size=40), max_size=4), st.booleans())
def test_json_repair_reads_any_unambiguous_json_as_json_loads_does(value: dict[str, str], ascii_only: bool) -> None:
    if all(_unambiguous(t) for t in [*value, *value.values()]):
        text = json.dumps(value, ensure_ascii=ascii_only)
        assert loads_keeping_latex(text) == (json.loads(text), len(text))


def test_tagged_blocks_are_taken_byte_exact_and_the_last_pair_wins() -> None:
    seed = "What is 3 + 4?"
    text = "<question>\n" + LATEX + "\n</question>\n<answer> \\dfrac{3}{2} </answer>"
    assert parse_generated(text, seed) == ({"question": LATEX, "answer": r"\dfrac{3}{2}"}, None)
    drafts = (
        "Draft:\n<question>What is $2^{10}$?</question>\n<answer>1000</answer>\nThat answer is wrong, "
        "and the problem is too easy. Final:\n<question>What is $2^{10} - \\binom{5}{2}$?</question>\n"
        "<answer>1014</answer>\n"
    )
    assert parse_generated(drafts, seed) == ({"question": r"What is $2^{10} - \binom{5}{2}$?", "answer": "1014"}, None)
    both = '<question>What is $\\frac{1}{4}$ of 20?</question><answer>5</answer> {"question": "x", "answer": "y"}'
    assert parse_generated(both, seed)[0] == {"question": r"What is $\frac{1}{4}$ of 20?", "answer": "5"}


def test_tags_after_a_think_block() -> None:
    sample = Sample.from_text(
        "<think>\nThe seed adds; mine can multiply. <question>draft</question>\n</think>\n\n"
        "<question>What is $6 \\times 7$?</question>\n<answer>42</answer>",
        finish_reason="stop",
    )
    assert sample.reasoning.startswith("The seed adds")
    assert parse_generated(sample.answer, "What is 3 + 4?") == (
        {"question": r"What is $6 \times 7$?", "answer": "42"},
        None,
    )
    assert parse_sample(sample, "What is 3 + 4?") == parse_generated(sample.answer, "What is 3 + 4?")


def test_control_characters_become_newline_and_space_or_reject() -> None:
    seed = "What is 3 + 4?"
    assert parse_generated("<question>Row 1:\t3\r\nRow 2:\t4\rSum them.</question><answer>7\t</answer>", seed) == (
        {"question": "Row 1: 3\nRow 2: 4\nSum them.", "answer": "7"},
        None,
    )
    assert parse_generated('{"question": "Columns:\\ta\\tb", "answer": "ab"}', seed) == (
        {"question": "Columns: a b", "answer": "ab"},
        None,
    )
    assert parse_generated('{"question": "Page 1\\u000cPage 2", "answer": "2"}', seed) == (
        None,
        "control character U+000C in question",
    )
    assert parse_generated('{"question": "What is 5 + 6?", "answer": "\\f11"}', seed) == (
        None,
        "control character U+000C in answer",
    )
    assert parse_generated("<question>What is 5\x00 + 6?</question><answer>11</answer>", seed) == (
        None,
        "control character U+0000 in question",
    )
    assert parse_generated("<question>What is 5 + 6?</question><answer>11\x7f</answer>", seed) == (
        None,
        "control character U+007F in answer",
    )


def test_cut_samples_are_rejected_even_when_a_partial_object_parses() -> None:
    seed = "What is 3 + 4?"
    cut = Sample.from_text('{"question": "What is 10 + 5?", "answer": "15"}', finish_reason="length")
    assert parse_sample(cut, seed) == (None, "cut at the token limit (finish_reason=length)")
    unclosed = Sample.from_text('<think>\nMaybe {"question": "What is 10 + 5?", "answer": "15"}', finish_reason="stop")
    assert parse_sample(unclosed, seed) == (None, "reasoning never closed")


REFUSAL = "This model's maximum context length is 4096 tokens. However, your messages resulted in 9000 tokens."
SCRIPT = [  # served by tests/scripted_server.py to the real OpenAI-compatible engine
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
    # a field no row of the chunk has is still a per-row reject: chunking must not decide a row's fate
    counts, kept, rejects, prompts = _generate(
        tmp_path / "mapping", DEFAULT_PROMPT, "skip", [{"id": "a", "problem": "What is 2 + 3?"}]
    )
    assert (kept, prompts) == ([], []) and rejects[0]["reason"].startswith("field 'expected_answer' is missing")


def test_bad_seed_row_under_on_bad_record_error_names_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        _generate(tmp_path, DEFAULT_PROMPT, "error")
    assert str(error.value).startswith(
        f"{tmp_path / 'seeds.jsonl'}:3: field 'problem' is missing (the row has: id, expected_answer) (and 4 more"
    )


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    path = tmp_path / "seeds.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "problem": f"What is {i} + {i + 3}?", "expected_answer": str(2 * i + 3)}) + "\n"
            for i in range(12)
        )
    )
    return path


def test_generation_stage_keeps_parseable_output_and_quarantines_the_rest(
    vllm_engine, seeds: Path, tmp_path: Path
) -> None:
    sampling = Sampling(max_tokens=48, temperature=0.5, n=3, seed=3)
    step = SeedGenerator(
        vllm_engine,
        sampling,
        DEFAULT_PROMPT,
        "problem",
        "expected_answer",
        "id",
        {**vllm_engine.describe(), "sampling": sampling.to_json()},
    )
    out = tmp_path / "gen.jsonl"
    run = run_stage(
        stage="generate",
        source=open_source(InputSpec(str(seeds))),
        shard=WHOLE,
        output=out,
        settings={"t": 1},
        process=step,
        every=5,
        batch_size=5,
        on_bad_record="error",
    )
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    rejects_file = Path(f"{out}.rejects.jsonl")
    rejected = [json.loads(line) for line in rejects_file.read_text().splitlines()] if rejects_file.exists() else []
    counts = run.marker["counts"]
    assert counts["generated"] == 36 and len(kept) + len(rejected) == 36 and counts["kept"] == len(kept)
    assert kept, "the tiny model was trained to answer this prompt in JSON"
    for rec in kept:
        assert rec["seed_id"].startswith("s") and rec["question"] and rec["answer"]
        assert rec["generation"]["engine"] == "vllm" and rec["generation"]["sampling"]["n"] == 3
    reasons = Counter(r["reason"] for r in rejected)
    assert sum(v for k, v in counts.items() if k.startswith("rejected: ")) == sum(reasons.values())
    assert all(r["record"]["seed_id"] and "text" in r["record"] for r in rejected)


def test_generate_cli_sharded_runs_merge_to_the_single_run(tiny_model: Path, seeds: Path, tmp_path: Path) -> None:
    common = [
        "--model",
        str(tiny_model),
        "--engine",
        "hf",
        "--engine-batch-size",
        "1",
        "--dtype",
        "fp32",
        "--input_file",
        str(seeds),
        "--max_tokens",
        "40",
        "--temperature",
        "0",
        "--save-per-iteration",
        "4",
    ]
    run_script("hpc/generate.py", *common, "--output_file", str(tmp_path / "one.jsonl"))
    for i in range(2):
        run_script("hpc/generate.py", *common, "--shard", f"{i}/2", "--output", str(tmp_path / "two.jsonl"))
    run_script("hpc/merge_shards.py", "--output", str(tmp_path / "two.jsonl"))
    one, two = (tmp_path / "one.jsonl").read_text(), (tmp_path / "two.jsonl").read_text()
    assert one == two and one


def test_c1_control_characters_and_line_separators_are_rejected_and_json_numbers_keep_their_digits() -> None:
    seed = "What is 3 + 4?"
    assert "U+0085" in parse_generated("<question>What is 7 + 8?\x85 Explain.</question><answer>15</answer>", seed)[1]
    assert "U+2028" in parse_generated('{"question": "What is 7 + 8?\\u2028", "answer": "15"}', seed)[1]
    assert parse_generated('{"question": "What is 10^{-5} written out?", "answer": 0.00001}', seed)[0]["answer"] == (
        "0.00001"
    )
