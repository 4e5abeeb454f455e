"""What a dataset folder holds already: per source file its content hash, schema, rows and Parquet output,
so that a rerun converts only what changed, and outputs whose source is gone are removed."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from sftkit.data.atomic import write_json_atomic
from sftkit.export.layout import DATA_DIR, MANIFEST

STAGING = ".sftkit-staging"  # scratch space for conversions, removed when they end


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


class Manifest:
    """Per source: content hash, schema, rows and output; plus the schema each config was written with.

    ``VERSION`` changes with the conversion rules (2: strings are no longer read as timestamps), and a
    manifest of another version is ignored, so every source is converted again under the new rules."""

    VERSION = 2

    def __init__(self, root: Path) -> None:
        self.path = root / MANIFEST
        data = orjson.loads(self.path.read_bytes()) if self.path.exists() else {}
        if data.get("version") != self.VERSION:
            data = {}
        self.files: dict[str, dict[str, Any]] = data.get("files", {})
        self.configs: dict[str, str] = data.get("configs", {})

    def save(self) -> None:
        write_json_atomic(self.path, {"version": self.VERSION, "files": self.files, "configs": self.configs})


def forget_missing(root: Path, manifest: Manifest, configs: set[str], present: set[str]) -> list[str]:
    """Drop manifest entries and Parquet outputs whose source or whole config is gone."""
    removed = []
    for rel in list(manifest.files):
        if rel not in present:
            out = root / manifest.files.pop(rel)["output"]
            if out.exists():
                out.unlink()
                removed.append(out.relative_to(root).as_posix())
    for config in list(manifest.configs):
        if config not in configs:
            manifest.configs.pop(config)
    data = root / DATA_DIR
    for folder in sorted(data.iterdir()) if data.exists() else []:
        if folder.is_dir() and folder.name not in configs:
            for path in folder.rglob("*.parquet"):
                path.unlink()
                removed.append(path.relative_to(root).as_posix())
    return removed
