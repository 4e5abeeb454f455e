"""Per-row checks of the text fields a model stage reads, so a bad row is a reject, never a prompt.

Without them a missing gold answer raised a raw ``KeyError``, and ``None``, ``""`` or a list became
the text ``"None"`` or ``"['nested']"``, was sent to the model, and came back as a confident
``pass_rate 0.0, kept: true``. The checks are per row, never per chunk, so whether a row is a
reject cannot depend on ``--save-per-iteration``, shard boundaries or where a run resumed; a
missing field's reason lists the fields the row has, for a wrong ``--answer-field`` mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sftkit.data.batch import Batch
from sftkit.errors import Reject


@dataclass(frozen=True)
class TextField:
    """A field that must hold non-empty text. ``numbers``: a number is accepted as its text (a gold
    answer of 7); ``many``: a non-empty list of such texts is accepted too (candidate answers)."""

    name: str
    numbers: bool = False
    many: bool = False


def _one(value: Any, numbers: bool) -> tuple[str | None, str | None]:
    """(text, None) or (None, what is wrong with the value)."""
    if value is None:
        return None, "is null"
    if isinstance(value, bool):
        return None, f"is a boolean ({value}), not text"
    if isinstance(value, int | float):
        if not numbers:
            return None, f"is a number ({value!r}), not text"
        if isinstance(value, float) and not math.isfinite(value):
            return None, f"is {value!r}, not an answer"
        return number_text(value), None
    if not isinstance(value, str):
        return None, f"is a {type(value).__name__}, not text"
    if not value.strip():
        return None, "is empty"
    return value, None


def number_text(value: int | float) -> str:
    """A number as a person writes it: ``7.0`` as ``7``, ``1e-05`` as ``0.00001`` and ``1e23`` as
    ``100000000000000000000000`` (math-verify reads ``1e-05`` as the expression E - 5)."""
    if not isinstance(value, float):
        return str(value)
    text = format(Decimal(repr(value)), "f")  # the digits Python prints, never the binary expansion
    return text.removesuffix(".0")


def as_text(value: str | int | float) -> str:
    """The text of a usable field's value: a number (``TextField(numbers=True)``) as ``number_text``."""
    return value if isinstance(value, str) else number_text(value)


def text_of(record: dict[str, Any], spec: TextField) -> tuple[str | list[str] | None, str | None]:
    """The field's text (a list of texts for ``many``), or why it cannot be used."""
    if spec.name not in record:
        return None, f"field {spec.name!r} is missing (the row has: {', '.join(map(str, list(record)[:12]))})"
    value = record[spec.name]
    if spec.many and isinstance(value, list):
        if not value:
            return None, f"field {spec.name!r} is an empty list"
        texts = []
        for k, item in enumerate(value):
            text, why = _one(item, spec.numbers)
            if why:
                return None, f"field {spec.name!r}[{k}] {why}"
            texts.append(text)
        return texts, None
    text, why = _one(value, spec.numbers)
    return (None, f"field {spec.name!r} {why}") if why else (text, None)


def usable_rows(
    batch: Batch, id_field: str, fields: list[TextField], as_read: bool = False
) -> tuple[list[int], list[dict[str, Any]], list[Reject]]:
    """Positions and records of the rows whose ``fields`` are usable, with those fields as text (``as_read``:
    as read, for a stage that writes the row back and reads a number's text with ``as_text``); every
    other row is a reject naming its location and the field (``--on-bad-record`` decides its fate)."""
    positions, records, rejects = [], [], []
    for pos, record in enumerate(batch.records(id_field)):
        problems, texts = [], {}
        for spec in fields:
            text, why = text_of(record, spec)
            if why:
                problems.append(why)
            else:
                texts[spec.name] = text
        if problems:
            rejects.append(Reject(int(batch.indices[pos]), batch.location(pos), "; ".join(problems), record))
            continue
        positions.append(pos)
        records.append(record if as_read else {**record, **texts})
    return positions, records, rejects
