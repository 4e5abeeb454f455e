"""The dataset card, built with huggingface_hub's DatasetCard API (no hand-written YAML).

Front matter: ``configs:`` (each config's Parquet files as its split), license, language, task
categories, computed size category, tags, pretty name. Body, unless the folder supplies
``original_readme.log``: a table per config, one example record, a ``load_dataset`` snippet per
config, provenance from the stages' ``*.stats.json`` files, and a length histogram.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from sftkit import report
from sftkit.data.errors import InputError
from sftkit.upload.layout import DATA_DIR, is_scratch
from sftkit.upload.local_paths import published_json

HISTOGRAM = "length_histogram.png"
_EXAMPLE_CHARS = 300


# the card keys a user may set: a flag given sets one; otherwise the Hub card's value stays, else this default
USER_KEYS = ("license", "language", "task_categories", "tags", "pretty_name")
DEFAULTS = {"language": ["en"], "task_categories": ["text-generation"], "tags": ["sft"]}


@dataclass
class CardOptions:
    """The card flags; None means the flag was not given."""

    repo_id: str
    split: str = "train"
    license: str | None = None
    language: list[str] | None = None
    task_categories: list[str] | None = None
    tags: list[str] | None = None
    pretty_name: str | None = None


@dataclass
class ConfigSummary:
    name: str
    rows: int
    bytes: int
    columns: list[tuple[str, str]]
    example: dict[str, Any] | None
    files: list[str]
    features: list[dict[str, Any]]  # as a card's dataset_info spells them


def size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    return next((label for bound, label in bounds if rows < bound), "n>1T" if rows >= 10**12 else "1B<n<10B")


def summarize(root: Path, config: str) -> ConfigSummary:
    files = sorted((root / DATA_DIR / config).rglob("*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    schema = pq.ParquetFile(files[0]).schema_arrow if files else None
    example = None
    for f in files:
        pf = pq.ParquetFile(f)
        if pf.metadata.num_rows:
            example = next(pf.iter_batches(batch_size=1)).to_pylist()[0]
            break
    return ConfigSummary(config, rows, sum(f.stat().st_size for f in files),
                         [(fl.name, str(fl.type)) for fl in schema] if schema else [], example,
                         [f.relative_to(root).as_posix() for f in files],
                         datasets.Features.from_arrow_schema(schema)._to_yaml_list() if schema else [])


def _truncate(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _EXAMPLE_CHARS:
        return value[:_EXAMPLE_CHARS] + f"... [{len(value):,} chars]"
    if isinstance(value, list):
        return [_truncate(v) for v in value[:5]]
    if isinstance(value, dict):
        return {k: _truncate(v) for k, v in value.items()}
    return value


def load_snippet(repo_id: str, config: str, split: str) -> str:
    return f'from datasets import load_dataset\n\nds = load_dataset({repo_id!r}, {config!r}, split={split!r})\n'


def _provenance(root: Path) -> list[tuple[str, str, str]]:
    rows = []
    for path in sorted(root.rglob("*.stats.json")):
        if is_scratch(path.relative_to(root)):
            continue
        stats = published_json(path, root)
        keep = ("model", "settings", "input", "field", "total_samples", "num_bins", "curve_sharpness", "seed",
                "records", "selected", "rows_in", "rows_read", "rejects", "counts", "sort")
        details = ", ".join(f"{k}={json.dumps(stats[k], ensure_ascii=False)}" for k in keep if k in stats)
        rows.append((path.relative_to(root).as_posix(), str(stats.get("stage", "?")), details))
    return rows


def text_field(summaries: list[ConfigSummary], wanted: str | None) -> str | None:
    """``wanted``, else the string column with the longest example value (the answer, usually)."""
    if wanted:
        types = {name: dtype for s in summaries for name, dtype in s.columns}
        if types.get(wanted) not in ("string", "large_string"):
            texts = sorted(name for name, dtype in types.items() if dtype in ("string", "large_string"))
            problem = f"is {types[wanted]}, not text" if wanted in types else "is in no config"
            raise InputError(f"--text-field {wanted!r} {problem}; the text fields are: {', '.join(texts) or 'none'}")
        return wanted
    best, best_len = None, 0
    for s in summaries:
        for name, dtype in s.columns:
            value = (s.example or {}).get(name)
            if dtype in ("string", "large_string") and isinstance(value, str) and len(value) > best_len:
                best, best_len = name, len(value)
    return best


def length_histogram(root: Path, summaries: list[ConfigSummary], field_name: str) -> Path | None:
    series = {}
    for s in summaries:
        if field_name in dict(s.columns):
            lengths = [pc.fill_null(pc.utf8_length(pq.read_table(root / f, columns=[field_name]).column(0)), 0)
                       .to_numpy() for f in s.files]
            series[s.name] = np.concatenate(lengths) if lengths else np.zeros(0)
    if not series:
        return None
    return report.histogram_png(root / HISTOGRAM, series, f"{field_name} length per config", "characters")


def _matching_info(info: Any, summaries: list[ConfigSummary], split: str) -> list[dict[str, Any]]:
    """The ``dataset_info`` entries that still describe our data: same config, columns, types and row count."""
    ours = {s.name: s for s in summaries}
    kept = []
    for entry in info if isinstance(info, list) else [info]:
        s = ours.get(entry.get("config_name", "default")) if isinstance(entry, dict) else None
        if s is None:
            continue
        splits = [(x.get("name"), x.get("num_examples")) for x in entry.get("splits") or [] if isinstance(x, dict)]
        if entry.get("features") == s.features and splits == [(split, s.rows)]:
            kept.append(entry)
    return kept


def _data_glob(config: str) -> str:
    return f"{DATA_DIR}/{config}/**/*.parquet"


def published_configs(front: dict[str, Any] | None) -> set[str]:
    """The configs a card lists as we write them (data under data/<config>/): ones an earlier upload made."""
    found = set()
    for entry in (front or {}).get("configs") or []:
        if not isinstance(entry, dict):
            continue
        files = entry.get("data_files")
        paths = [f.get("path") if isinstance(f, dict) else f for f in (files if isinstance(files, list) else [files])]
        if paths and all(p == _data_glob(entry.get("config_name")) for p in paths):
            found.add(entry["config_name"])
    return found


def build_card(root: Path, summaries: list[ConfigSummary], opts: CardOptions, body: str | None,
               existing: dict[str, Any] | None = None) -> DatasetCard:
    """The card. ``existing`` front matter from the Hub keeps its keys except the ones a flag set;
    ``configs`` and ``size_categories`` describe the data and are ours; stale ``dataset_info`` goes."""
    existing = dict(existing or {})
    front: dict[str, Any] = {k: v for k, v in existing.items() if k != "dataset_info"}
    defaults = {**DEFAULTS, "pretty_name": opts.repo_id.split("/")[-1].replace("-", " ").replace("_", " ")}
    for key in USER_KEYS:
        value = getattr(opts, key)
        if value is None and existing.get(key) is None:
            value = defaults.get(key)
        if value is not None:
            front[key] = value
    front["size_categories"] = [size_category(sum(s.rows for s in summaries))]
    front["configs"] = [{"config_name": s.name, "data_files": [{"split": opts.split, "path": _data_glob(s.name)}]}
                        for s in summaries]
    info = _matching_info(existing.get("dataset_info"), summaries, opts.split) if "dataset_info" in existing else []
    if info:
        front["dataset_info"] = info
    data = DatasetCardData(**front)
    if body is None:
        body = _body(root, summaries, opts.repo_id, front["pretty_name"], opts.split)
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n")


def _body(root: Path, summaries: list[ConfigSummary], repo_id: str, name: str, split: str) -> str:
    out = [f"# {name}", "", "Supervised fine-tuning data prepared with sftkit.", ""]
    out += ["## Configs", "", "| config | rows | columns | Parquet bytes |", "| --- | ---: | ---: | ---: |"]
    out += [f"| `{s.name}` | {s.rows:,} | {len(s.columns)} | {s.bytes:,} |" for s in summaries]
    for s in summaries:
        out += ["", f"### `{s.name}`", "", "| column | type |", "| --- | --- |"]
        out += [f"| `{col}` | `{dtype}` |" for col, dtype in s.columns]
        out += ["", "Load it:", "", "```python", load_snippet(repo_id, s.name, split).rstrip(), "```"]
        if s.example is not None:
            example = json.dumps(_truncate(s.example), ensure_ascii=False, indent=2, default=str)
            out += ["", "Example record:", "", "```json", example, "```"]
    if (root / HISTOGRAM).exists():
        out += ["", "## Lengths", "", f"![length histogram]({HISTOGRAM})"]
    provenance = _provenance(root)
    if provenance:
        out += ["", "## Provenance", "", "| stats file | stage | details |", "| --- | --- | --- |"]
        out += [f"| `{path}` | {stage} | {details.replace('|', '/')} |" for path, stage, details in provenance]
    return "\n".join(out)
