"""LLaMA-Factory's ``dataset_info.json`` entries for exported ShareGPT, Alpaca or preference (dpo) data.

One entry per config and split (``NAME`` for train, ``NAME_validation``), each naming its Parquet file
relative to the folder, so ``dataset_dir: <folder>`` and ``dataset: NAME`` (``eval_dataset:
NAME_validation``) train on it. Keys as LLaMA-Factory's data/README.md documents them: ``system`` and
``tools`` columns where the rows have them; dpo pairs are ``ranking: true`` ShareGPT with OpenAI-style tags,
the prompt messages and one ``chosen_turn``/``rejected_turn`` message each. ShareGPT tool turns use
LLaMA-Factory's default ``observation`` and ``function_call`` tags, so they need no entry.
"""

from __future__ import annotations

from typing import Any

from sftkit.export.splits import TRAIN

DATASET_INFO = "dataset_info.json"


FORMATS = ("sharegpt", "alpaca", "dpo")


def entry(fmt: str, file_name: str, columns: set[str]) -> dict[str, Any]:
    system = {"system": "system"} if "system" in columns else {}
    if fmt == "dpo":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "ranking": True,
            "columns": {"messages": "prompt", "chosen": "chosen_turn", "rejected": "rejected_turn"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    if fmt == "sharegpt":
        tools = {"tools": "tools"} if "tools" in columns else {}
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", **system, **tools},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "system_tag": "system",
            },
        }
    return {
        "file_name": file_name,
        "formatting": "alpaca",
        "columns": {"prompt": "instruction", "query": "input", "response": "output", **system},
    }


def entry_name(config: str, split: str) -> str:
    return config if split == TRAIN else f"{config}_{split}"


def dataset_info(fmt: str, files: dict[str, dict[str, str]], columns: set[str]) -> dict[str, Any]:
    """``files``: config -> split -> Parquet path relative to the folder; ``columns``: those some row has."""
    return {
        entry_name(config, split): entry(fmt, path, columns)
        for config, splits in files.items()
        for split, path in splits.items()
    }
