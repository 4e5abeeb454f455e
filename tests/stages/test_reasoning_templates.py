"""Reasoning never disappears: exported rows through real chat templates (tests/corpus/chat_templates, their
Jinja text as the Hub ships it, each built offline into a tokenizer folder), and the export stops on a template
that drops the reasoning, naming the --reasoning mode that keeps it."""

import json
from pathlib import Path

import pytest
from helpers import run_command, template_tokenizer
from huggingface_hub import DatasetCard

from sftkit.errors import InputError
from sftkit.export.render import Template

pytestmark = pytest.mark.stages

EXPORT = "upload/export_sft.py"
THOUGHT = "Add 2 and 2: four."
ANSWER = "The answer is 4."
FIELD = {"role": "assistant", "content": ANSWER, "reasoning_content": THOUGHT}
INLINE = {"role": "assistant", "content": f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"}

# template -> (keeps --reasoning field, keeps --reasoning inline)
KEEPS = {
    "qwen3": (True, True),
    "llama3.1": (False, True),
    "gemma3": (False, True),
    "gpt-oss": (False, True),  # it reads `thinking` (the analysis channel), which no export format writes
    "deepseek-r1-distill": (False, False),  # it keeps only the text after </think>
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Template]:
    folder = tmp_path_factory.mktemp("templates")
    return {name: Template(template_tokenizer(folder, name)) for name in KEEPS}


@pytest.mark.parametrize("name", KEEPS)
def test_each_real_template_keeps_or_drops_reasoning_as_it_ships(templates: dict[str, Template], name: str) -> None:
    template = templates[name]
    for turn, keeps, mode in ((FIELD, KEEPS[name][0], "field"), (INLINE, KEEPS[name][1], "inline")):
        record = {"messages": [{"role": "user", "content": "What is 2 + 2?"}, turn]}
        rendered = template.render(record["messages"], "row 0")
        assert ANSWER in rendered
        assert (THOUGHT in rendered) == keeps, (name, mode, rendered)
        if keeps:
            assert template.check(record, "row 0") == rendered
            continue
        with pytest.raises(InputError) as err:
            template.check(record, "row 0")
        message = str(err.value)
        assert "\n" not in message and name in message and "row 0" in message
        if mode == "field" and KEEPS[name][1]:
            assert "drops `reasoning_content`" in message and "use --reasoning inline" in message
        else:  # R1-Distill: no mode keeps it
            assert "the reasoning written the other way too" in message and "--reasoning drop" in message


def test_gpt_oss_keeps_its_own_thinking_field_in_the_analysis_channel(templates: dict[str, Template]) -> None:
    messages = [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": ANSWER, "thinking": THOUGHT}]
    rendered = templates["gpt-oss"].render(messages, "row 0")
    assert f"<|channel|>analysis<|message|>{THOUGHT}<|end|>" in rendered


def _rows(n: int) -> list[dict]:
    return [
        {"id": f"r{i}", "problem": f"What is {i} + 2?", "generated_solution": f"<think>\nStep {i}.\n</think>\n\n{i}"}
        for i in range(n)
    ]


def test_export_stops_on_a_template_that_drops_reasoning_and_writes_nothing(tmp_path: Path) -> None:
    inp = tmp_path / "seeds.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in _rows(6)))
    llama = template_tokenizer(tmp_path, "llama3.1")
    args = ["--input", str(inp), "--license", "cc-by-4.0", "--format", "messages", "--tokenizer", llama]
    out = tmp_path / "field"
    proc = run_command(EXPORT, *args, "--output", str(out), "--reasoning", "field", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(error) == 1 and "drops `reasoning_content`" in error[0] and "--reasoning inline" in error[0]
    assert not (out / "README.md").exists() and not list(out.rglob("*.parquet"))  # nothing unchecked stays
    out = tmp_path / "inline"
    run_command(EXPORT, *args, "--output", str(out), "--reasoning", "inline")
    card = DatasetCard.load(out / "README.md").text
    rendered = card.split("```text\n", 1)[1].split("```", 1)[0]
    assert "<|start_header_id|>assistant<|end_header_id|>\n\n<think>\nStep" in rendered
    assert "checked with" in card


def test_the_example_record_is_the_rendered_row_even_when_the_first_row_went_to_validation(tmp_path: Path) -> None:
    inp = tmp_path / "seeds.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in _rows(20)))
    out = tmp_path / "out"
    qwen = template_tokenizer(tmp_path, "qwen3")
    run_command(
        EXPORT, "--input", str(inp), "--output", str(out), "--license", "mit", "--format", "messages",
        "--reasoning", "field", "--val-fraction", "0.5", "--tokenizer", qwen,
    )  # fmt: skip
    card = DatasetCard.load(out / "README.md").text
    example = json.loads(card.split("Example record:\n\n```json\n", 1)[1].split("```", 1)[0])
    rendered = card.split("```text\n", 1)[1].split("```", 1)[0]
    assert example["id"] != "r0"  # the first exported row went to validation: the card shows the first train row
    question = example["messages"][0]["content"]
    assert f"<|im_start|>user\n{question}<|im_end|>" in rendered
    assert f"<think>\n{example['messages'][1]['reasoning_content']}\n</think>" in rendered


def test_a_pairs_rejected_side_is_checked_too(templates: dict[str, Template]) -> None:
    """DPO trains on both sides: reasoning only the rejected answer has must survive the template as well."""
    plain = {"role": "assistant", "content": ANSWER}
    pair = {"prompt": [{"role": "user", "content": "What is 2 + 2?"}], "chosen": [plain], "rejected": [FIELD]}
    with pytest.raises(InputError, match="drops `reasoning_content`"):
        templates["llama3.1"].check(pair, "row 0")
    assert THOUGHT not in templates["qwen3"].check(pair, "row 0")  # the chosen side's rendering, for the card
