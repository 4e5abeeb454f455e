"""LLaMA-Factory's ``dataset_info.json`` entries for exported ShareGPT or Alpaca data.

One entry per config and split (``NAME`` for train, ``NAME_validation``), each naming its Parquet file
relative to the folder, so ``dataset_dir: <folder>`` and ``dataset: NAME`` (``eval_dataset:
NAME_validation``) train on it. Keys as LLaMA-Factory's data/README.md documents them.
"""

from __future__ import annotations

from typing import Any

from sftkit.export.splits import TRAIN

DATASET_INFO = "dataset_info.json"


def entry(fmt: str, file_name: str, has_system: bool) -> dict[str, Any]:
    system = {"system": "system"} if has_system else {}
    if fmt == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", **system},
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


def dataset_info(fmt: str, files: dict[str, dict[str, str]], has_system: bool) -> dict[str, Any]:
    """``files``: config -> split -> Parquet path relative to the folder."""
    return {
        entry_name(config, split): entry(fmt, path, has_system)
        for config, splits in files.items()
        for split, path in splits.items()
    }
