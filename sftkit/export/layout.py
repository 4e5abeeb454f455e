"""Which files of a results folder are data, and where their Parquet goes.

Input: each subfolder of the dataset folder is a config holding .json (arrays), .jsonl or
.parquet files, possibly in subfolders. Output: ``data/<config>/<relative path>.parquet``, the
layout ``load_dataset(repo, config)`` reads through the card's ``configs:``. Stage side files
(``*.stats.json``, ``*.rejects.jsonl``, ``*.parts/``) and hidden files are not data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sftkit.errors import InputError

DATA_DIR = "data"
MANIFEST = ".sftkit-upload.json"
SOURCE_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
README_SOURCE = "original_readme.log"  # any case: original_README.log works too


@dataclass(frozen=True)
class SourceFile:
    config: str
    path: Path  # absolute
    rel: str  # relative to the dataset folder, e.g. "cot/part1.jsonl"
    fmt: str
    output_rel: str  # e.g. "data/cot/part1.parquet"


def is_scratch(rel: Path) -> bool:
    """Hidden files and stages' ``*.parts/`` and ``*.passes/`` folders: never data, never uploaded."""
    return any(p.startswith(".") or p.endswith((".parts", ".passes")) for p in rel.parts)


def _is_side_file(path: Path, root: Path) -> bool:
    return is_scratch(path.relative_to(root)) or path.name.endswith((".stats.json", ".rejects.jsonl"))


def discover(root: Path) -> dict[str, list[SourceFile]]:
    """Config name -> its source files, in sorted order. Errors name what is wrong and where."""
    if not root.is_dir():
        raise InputError(f"--dataset_path {root}: not a folder")
    configs: dict[str, list[SourceFile]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name == DATA_DIR or folder.name.endswith(".parts"):
            continue
        files = []
        seen: dict[str, Path] = {}
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix not in SOURCE_SUFFIXES or _is_side_file(path, root):
                continue
            rel_in_config = path.relative_to(folder).with_suffix(".parquet").as_posix()
            if rel_in_config in seen:
                raise InputError(
                    f"{seen[rel_in_config]} and {path} would both become "
                    f"{DATA_DIR}/{folder.name}/{rel_in_config}; rename one"
                )
            seen[rel_in_config] = path
            files.append(
                SourceFile(
                    folder.name,
                    path,
                    path.relative_to(root).as_posix(),
                    SOURCE_SUFFIXES[path.suffix],
                    f"{DATA_DIR}/{folder.name}/{rel_in_config}",
                )
            )
        if files:
            configs[folder.name] = files
    if not configs:
        raise InputError(
            f"--dataset_path {root}: no config subfolders with .json/.jsonl/.parquet files "
            "(expected DIR/<config>/<file>.jsonl)"
        )
    return configs


def original_readme(root: Path) -> str | None:
    """The card body the user supplied in ``original_readme.log`` (any case), if any."""
    for path in sorted(root.iterdir()):
        if path.is_file() and path.name.lower() == README_SOURCE:
            return path.read_text(encoding="utf-8")
    return None
