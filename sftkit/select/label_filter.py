"""Keep rows by a precomputed pass-rate label (OpenMathReasoning's ``pass_rate_72b_tir``).

Labels arrive as strings ('0.25', '1'), numbers, or 'n/a'. Parsing is by ``float``, never by
``str.isnumeric`` (which is False for '0.25'). Rows without a label are counted and reported;
a label that is neither a number nor a known "no label" marker is bad input.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from sftkit.data.batch import Batch
from sftkit.errors import Reject
from sftkit.report import pass_rate_bin
from sftkit.runner.stage import StageResult

NO_LABEL = {"", "n/a", "na", "none", "null", "nan"}


class BadLabel(ValueError):
    """A pass rate that is not a number in [0, 1] and not a "no label" marker."""


def parse_pass_rate(value: Any) -> float | None:
    """The pass rate as a float in [0, 1]; None when the row has no label."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadLabel(f"pass rate {value!r} is a boolean")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in NO_LABEL:
            return None
        try:
            rate = float(text)
        except ValueError:
            raise BadLabel(f"pass rate {value!r} is not a number") from None
    elif isinstance(value, int | float):
        rate = float(value)
    else:
        raise BadLabel(f"pass rate {value!r} has type {type(value).__name__}")
    if math.isnan(rate):
        return None
    if not 0.0 <= rate <= 1.0:
        raise BadLabel(f"pass rate {value!r} is outside [0, 1]")
    return rate


@dataclass
class PassRateFilter:
    """Keeps rows with ``min_rate <= pass rate <= max_rate`` (and the wanted problem type, if set)."""

    field: str
    max_rate: float
    min_rate: float
    solution_field: str
    id_field: str
    problem_type: str | None = None
    problem_type_field: str = "problem_type"
    problem_type_required: bool = True  # False: rows without a type pass (the default's "when the data says")

    def sort_spec(self) -> list[dict[str, str]]:
        """Global output order: pass rate ascending (hardest first), then longest solution first."""
        return [
            {"field": self.field, "key": "number", "order": "asc"},
            {"field": self.solution_field, "key": "length", "order": "desc"},
        ]

    def __call__(self, batch: Batch) -> StageResult:
        required = {self.field: "--pass-rate-field"}
        if self.problem_type and self.problem_type_required:
            required[self.problem_type_field] = "--problem-type-field"
        batch.require(required)
        counts: Counter = Counter(rows=len(batch))
        rejects: list[Reject] = []
        types = batch.values(self.problem_type_field) if self.problem_type else None
        keep = []
        for pos, value in enumerate(batch.values(self.field)):
            if (
                types is not None
                and types[pos] != self.problem_type
                and (self.problem_type_required or types[pos] is not None)
            ):
                counts["other_problem_type"] += 1
                continue
            try:
                rate = parse_pass_rate(value)
            except BadLabel as exc:
                counts["bad_label"] += 1
                rejects.append(
                    Reject(
                        int(batch.indices[pos]),
                        batch.location(pos),
                        str(exc),
                        batch.select(np.array([pos])).records(self.id_field)[0],
                    )
                )
                continue
            if rate is None:
                counts["no_label"] += 1
                continue
            counts[pass_rate_bin(rate)] += 1  # every labelled row, kept or not: the merge plots them
            if rate > self.max_rate:
                counts["above_max"] += 1
            elif rate < self.min_rate:
                counts["below_min"] += 1
            else:
                counts["kept"] += 1
                keep.append(pos)
        records = batch.select(np.array(keep, dtype=np.int64)).records(self.id_field) if keep else []
        return StageResult(records, rejects, counts)
