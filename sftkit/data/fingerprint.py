"""The settings fingerprint: one hash of what decides a stage's results (its settings and what its input is).

A shard, a merge or a pipeline step is resumed or skipped only when its fingerprint matches; when it does not,
``describe_change`` says what differs instead of a bare "settings changed".
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def result_settings(settings: Any, ignore: frozenset[str]) -> Any:
    """``settings`` without the ``ignore`` keys (settings that change how the work runs, never what it
    produces: the engines' RUNTIME_SETTINGS), at any depth."""
    if isinstance(settings, dict):
        return {k: result_settings(v, ignore) for k, v in settings.items() if k not in ignore}
    if isinstance(settings, list | tuple):
        return [result_settings(v, ignore) for v in settings]
    return settings


def fingerprint(settings: dict[str, Any], ignore: frozenset[str] = frozenset()) -> str:
    return hashlib.sha256(
        orjson.dumps(result_settings(settings, ignore), option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()[:16]


def describe_change(
    old: dict[str, Any], new: dict[str, Any], limit: int = 4, ignore: frozenset[str] = frozenset()
) -> str:
    """What differs between two settings, e.g. ``data.rows 2000 -> 2200``, for refusal messages."""
    before, after = _flat(result_settings(old, ignore)), _flat(result_settings(new, ignore))
    changed = [
        f"{k} {_short(before.get(k))} -> {_short(after.get(k))}"
        for k in sorted(before.keys() | after.keys())
        if before.get(k) != after.get(k)
    ]
    more = f" and {len(changed) - limit} more" if len(changed) > limit else ""
    return "; ".join(changed[:limit]) + more if changed else "the settings fingerprint"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value if isinstance(value, str) else orjson.dumps(value, default=str).decode()}


def _short(text: str | None) -> str:
    if text is None:
        return "(none)"
    return text if len(text) <= 20 else text[:12] + "..."
