"""How the data was made, read from the stages' ``<output>.stats.json`` files.

Each stats file names the stage's inputs (``input``, ``scores``, ``source``, ``settings.input.input``,
and each pass's input); an input with its own stats file is followed upstream, so the card lists every
stage in order with its settings, models, sampling and rows in and out. An input without stats that
looks like a Hub id (``nvidia/OpenMathReasoning``) is a source dataset. Everything shown goes through
``publishable``: no local absolute path reaches the card.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftkit import registry
from sftkit.export.layout import SOURCE_SUFFIXES, is_scratch
from sftkit.upload.local_paths import publishable, published_json

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# the names the stages give their rows in and out (decontamination writes `written`), first found wins
ROWS_IN = ("rows_in", "rows_read", "items")
ROWS_OUT = ("kept", "selected", "records", "written", "items")
# what a stage found rather than what it was told: shown with its counts
_RESULTS = (
    "rejects",
    "duplicate_ids",
    "valid_rows",
    "second_pass_rows",
    "unanswered",
    "no_difficulty_z",
    "after_filters",
    "truncated",
    "ensemble_acc_mean",
)
# not settings: inputs, results, timings, per-bin tables, provenance blocks shown elsewhere
_NOT_SETTINGS = {
    *_RESULTS,
    "irt_beta_range",
    "stage",
    "output",
    "input",
    "scores",
    "source",
    "settings",
    "data",
    "passes",
    "provenance",
    "prompts",
    "chat",
    "counts",
    "bins",
    "sort",
    "shard_seconds",
    "worker_seconds",
    "merge_seconds",
    "seconds",
    "duplicate_id_examples",
    "rejects_file",
    "all_records_to",
    "models",
    "model",
    "fields",
    "prompt_sha256",
    "prompt_file",
    *ROWS_IN,
    *ROWS_OUT,
}


@dataclass
class Stage:
    name: str
    output: str
    rows_in: int | None
    rows_out: int | None
    models: list[str] = field(default_factory=list)
    sampling: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Provenance:
    stages: list[Stage]  # upstream first
    source_datasets: list[str]


def _inputs(stats: dict[str, Any]) -> list[str]:
    settings = stats.get("settings") if isinstance(stats.get("settings"), dict) else {}
    found = [stats.get(k) for k in ("input", "scores", "source")]
    found.append((settings.get("input") or {}).get("input") if isinstance(settings.get("input"), dict) else None)
    for spec in (settings.get("passes") or {}).values():
        if isinstance(spec, dict) and isinstance(spec.get("input"), dict):
            found.append(spec["input"].get("input"))
    return list(dict.fromkeys(v for v in found if isinstance(v, str) and v))


def _walk(value: Any) -> Any:
    """(key, value) of every entry of nested dicts and lists (an LLM filter's judges), depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _models(stats: dict[str, Any]) -> list[str]:
    found = []
    for k, v in _walk(stats):
        if k == "model" and isinstance(v, str):
            found.append(v)
        elif k == "models" and isinstance(v, list):
            found += [m for m in v if isinstance(m, str)]
    return list(dict.fromkeys(found))


def _sampling(stats: dict[str, Any]) -> list[str]:
    out = []
    for k, v in _walk(stats):
        if k.endswith("sampling") and isinstance(v, dict):
            knobs = ", ".join(f"{n}={v[n]}" for n in ("temperature", "top_p", "n", "max_tokens") if n in v)
            out.append(f"{k.replace('_', ' ')}: {knobs}")
    return list(dict.fromkeys(out))


def _scalar_settings(stats: dict[str, Any]) -> list[str]:
    out = []
    for scope in (stats, stats.get("settings") if isinstance(stats.get("settings"), dict) else {}):
        for k, v in scope.items():
            if k in _NOT_SETTINGS or v is None:
                continue
            if k.endswith("sampling"):  # shown in its own column
                continue
            if isinstance(v, dict):  # one level of grouping, e.g. the label filter's `filter`
                out += [
                    f"{k2}={json.dumps(v2, ensure_ascii=False)}"
                    for k2, v2 in v.items()
                    if v2 is not None and not isinstance(v2, dict | list) and k2 not in _NOT_SETTINGS
                ]
            elif not isinstance(v, list) or len(v) <= 4:
                out.append(f"{k}={json.dumps(v, ensure_ascii=False)}")
    return list(dict.fromkeys(out))


def _first(stats: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    return next((int(stats[k]) for k in keys if isinstance(stats.get(k), int | float)), None)


def stage(stats: dict[str, Any], output: str) -> Stage:
    counts = {k: stats[k] for k in _RESULTS if isinstance(stats.get(k), int | float) and stats[k]}
    counts.update(stats.get("counts") if isinstance(stats.get("counts"), dict) else {})
    name = str(stats.get("stage", "?"))
    return Stage(
        registry.ALIASES.get(name, name),
        output,
        _first(stats, ROWS_IN),
        _first(stats, ROWS_OUT),
        _models(stats),
        _sampling(stats),
        _scalar_settings(stats),
        counts,
    )


def _stats_file(name: str, near: Path) -> Path | None:
    for base in (Path(name), near.parent / Path(name).name):
        candidate = base.with_name(base.name + ".stats.json")
        if candidate.is_file():
            return candidate
    return None


def _local_files(stats: dict[str, Any]) -> set[str]:
    """The local files a stage hashed when it read them (a Hub dataset has a revision instead)."""
    data = stats.get("settings", {}).get("data") if isinstance(stats.get("settings"), dict) else None
    return set((data or {}).get("sha256") or {}) if isinstance(data, dict) else set()


def is_hub_id(name: str, stats: dict[str, Any]) -> bool:
    """``owner/name``, not a data file, not on this machine, and not a file the stage hashed as local."""
    local = _local_files(stats)
    return (
        bool(_HUB_ID.match(name))
        and Path(name).suffix not in SOURCE_SUFFIXES
        and not Path(name).exists()
        and not any(f == name or f.startswith(name.rstrip("/") + "/") for f in local)
    )


def trace(stats_files: list[Path], root: Path) -> Provenance:
    """Every stage behind ``stats_files``, upstream first, and the Hub datasets they started from."""
    seen: dict[bytes, Stage] = {}
    sources: list[str] = []

    def visit(path: Path) -> None:
        key = hashlib.sha256(path.read_bytes()).digest()  # a copied stats file (a dataset folder's) is the same stage
        if key in seen:
            return
        seen[key] = None  # type: ignore[assignment]  # a cycle (a stage reading its own output) stops here
        raw = published_json(path, None)  # as written: the lookup needs the real paths
        for name in _inputs(raw):
            upstream = _stats_file(name, path)
            if upstream is not None:
                visit(upstream)
            elif is_hub_id(name, raw):
                sources.append(name)
        output = path.name.removesuffix(".stats.json")
        del seen[key]
        seen[key] = stage(publishable(raw, root), str(publishable(output, root)))

    for path in stats_files:
        visit(path)
    return Provenance([s for s in seen.values() if s is not None], list(dict.fromkeys(sources)))


def stats_files(root: Path) -> list[Path]:
    """The stage stats a dataset folder (or one config's folder) holds next to its data (scratch folders aside)."""
    return [p for p in sorted(root.rglob("*.stats.json")) if not is_scratch(p.relative_to(root))]


def chain(stages: list[Stage]) -> str:
    """Rows stage by stage, upstream first: the first stage's rows in, then each stage's rows out; a stage
    that read other than all of the previous stage's output says so (``300 (12 read) → 11``)."""
    parts: list[str] = []
    previous: int | None = None
    for s in stages:
        if s.rows_in is not None and s.rows_in != previous:
            if previous is not None:
                parts[-1] += f" ({s.rows_in:,} read)"
            else:
                parts.append(f"{s.rows_in:,}")
        previous = s.rows_out
        if s.rows_out is not None:
            parts.append(f"{s.rows_out:,}")
    return " → ".join(parts)
