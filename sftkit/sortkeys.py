"""Sort specs that stages record in their markers so a merge reproduces the single-run order.

A spec is a list of ``{"field": F, "key": "number"|"length", "order": "asc"|"desc"}``. Ties keep
the source order, so a sharded run merges to exactly what one unsharded run writes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def as_number(value: Any) -> float:
    """A float for numbers and numeric strings ('0.25', '1'); NaN for anything else ('n/a', None)."""
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return math.nan
    return math.nan


def key_values(values: list[Any], kind: str) -> np.ndarray:
    if kind == "number":
        return np.array([as_number(v) for v in values], dtype=np.float64)
    if kind == "length":
        return np.array([len(v) if isinstance(v, str) else 0 for v in values], dtype=np.float64)
    raise ValueError(f"unknown sort key kind {kind!r}")


def sort_order(records: Sequence[dict[str, Any]], spec: list[dict[str, str]]) -> np.ndarray:
    """Stable order of ``records`` under ``spec``; NaN keys sort last whatever the direction."""
    if not records:
        return np.zeros(0, dtype=np.int64)
    keys = []
    for s in reversed(spec):  # np.lexsort: last key is primary
        k = key_values([r.get(s["field"]) for r in records], s["key"])
        k = -k if s["order"] == "desc" else k
        keys.append(np.nan_to_num(k, nan=np.inf))
    keys.insert(0, np.arange(len(records)))
    return np.lexsort(keys)
