"""A real trainer accepts what the export writes: TRL's SFTTrainer with assistant_only_loss on exported
conversations (multi-turn, tools, system), rendered by the tiny model's template with its generation markers,
and TRL's DPOTrainer on exported preference pairs; two steps each on the cached tiny model."""

import json
from pathlib import Path

import datasets
import pytest
from helpers import run_command

pytestmark = pytest.mark.models


def _export(rows: list[dict], tmp_path: Path, fmt: str) -> datasets.Dataset:
    inp = tmp_path / f"{fmt}.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / fmt
    run_command("upload/export_sft.py", "--input", str(inp), "--output", str(out), "--format", fmt, "--license", "mit")
    return datasets.load_dataset(str(out), cache_dir=str(tmp_path / f"cache-{fmt}"))["train"]


def _args(config: type, tmp_path: Path, **extra: object) -> object:
    return config(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-4,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        **extra,
    )


def test_sft_trainer_trains_on_exported_conversations_with_assistant_only_loss(
    tiny_model: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {}}}}]
    call = {"type": "function", "function": {"name": "add", "arguments": json.dumps({"a": 1, "b": 2})}}
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Use the tool."},
                {"role": "user", "content": f"What is {i} + 2?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": str(i + 2)},
                {"role": "assistant", "content": f"The answer is \\boxed{{{i + 2}}}."},
            ],
            "tools": json.dumps(tools),
        }
        for i in range(4)
    ]
    train = _export(rows, tmp_path, "messages").select_columns(["messages", "tools"])
    tok = AutoTokenizer.from_pretrained(tiny_model)
    trainer = SFTTrainer(
        model=str(tiny_model),
        processing_class=tok,
        train_dataset=train,
        args=_args(SFTConfig, tmp_path, assistant_only_loss=True, max_length=256),
    )
    assert trainer.chat_template is None  # the model's own template has the markers: TRL swaps in none of its own
    first = trainer.train_dataset[0]
    learned = tok.decode([t for t, label in zip(first["input_ids"], first["labels"], strict=True) if label != -100])
    assert "boxed{2}" in learned and '"name": "add"' in learned and "<|im_end|>" in learned
    assert "Use the tool" not in learned and "What is" not in learned and "# Tools" not in learned
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0


def test_dpo_trainer_trains_on_exported_pairs(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    hh = "\n\nHuman: What is {i} + 1?\n\nAssistant: Let me see.\n\nHuman: And?\n\nAssistant: "
    rows = [
        {"chosen": hh.format(i=i) + f"\\boxed{{{i + 1}}}", "rejected": hh.format(i=i) + "No idea."} for i in range(4)
    ]
    train = _export(rows, tmp_path, "dpo").select_columns(["prompt", "chosen", "rejected"])
    trainer = DPOTrainer(
        model=str(tiny_model),
        processing_class=AutoTokenizer.from_pretrained(tiny_model),
        train_dataset=train,
        args=_args(DPOConfig, tmp_path, max_length=256),
    )
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
