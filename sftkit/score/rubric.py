"""A rubric: the dimensions a judge scores, each on its scale and with its weight, and the judge prompt.

Loaded from YAML and checked whole before any model loads: a malformed rubric is one line naming the
file and the key, never a judge prompt that asks for something the parser then cannot read.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sftkit.errors import InputError

_TOP_KEYS = {"name", "description", "system", "prompt", "dimensions"}
_DIMENSION_KEYS = {"name", "description", "scale", "weight", "aliases"}
_SEPARATORS = re.compile(r"[\s_\-]+")


def name_key(name: str) -> str:
    """How a dimension's name is matched in an answer: NFKC (full-width letters and colons), case folded,
    runs of spaces, ``_`` and ``-`` as one space. ``Runs_without errors`` and ``runs without errors`` match."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", name)).strip().casefold()


@dataclass(frozen=True)
class Dimension:
    name: str
    description: str
    low: float
    high: float
    weight: float
    aliases: tuple[str, ...] = ()

    def scale(self) -> str:
        return f"{self.low:g}-{self.high:g}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "scale": [self.low, self.high],
            "weight": self.weight,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class Rubric:
    """``prompt`` is a template over the row's fields (``{{field}}``); the criteria and the answer format
    are appended to it by ``judge_prompt``, so they always match what ``parse`` reads."""

    path: str
    name: str
    prompt: str
    dimensions: tuple[Dimension, ...]
    system: str | None = None
    description: str = ""

    @functools.cached_property
    def by_key(self) -> dict[str, Dimension]:
        """Every name and alias, as ``name_key`` matches them, to its dimension (built once: read per answer)."""
        return {name_key(n): d for d in self.dimensions for n in (d.name, *d.aliases)}

    def total(self, scores: dict[str, float]) -> float:
        """The weighted mean of the scores, each first mapped onto [0, 1] by its scale."""
        weights = sum(d.weight for d in self.dimensions)
        return sum(d.weight * (scores[d.name] - d.low) / (d.high - d.low) for d in self.dimensions) / weights

    def criteria(self) -> str:
        """What is appended to the prompt: the criteria and the one answer format the parser reads."""
        lines = [f"- {d.name} ({d.scale()}): {d.description}" for d in self.dimensions]
        example = "\n".join(f"{d.name}: <score {d.scale()}>" for d in self.dimensions)
        return (
            "Score the response on each criterion:\n"
            + "\n".join(lines)
            + "\n\nEnd your answer with exactly one line per criterion, in this form and order, the score a "
            "number in the criterion's range, and nothing after them:\n" + example
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "prompt": self.prompt,
            "system": self.system,
            "dimensions": [d.to_json() for d in self.dimensions],
        }


def _bad(path: str, key: str, what: str) -> InputError:
    return InputError(f"--rubric {path}: {key}: {what}")


def _number(path: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(path, key, f"expected a number, got {value!r}")
    return float(value)


def _text(path: str, key: str, value: Any, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise _bad(path, key, f"expected non-empty text, got {value!r}")
    return value


def _scale(path: str, key: str, value: Any) -> tuple[float, float]:
    if isinstance(value, dict) and set(value) == {"min", "max"}:
        value = [value["min"], value["max"]]
    if not isinstance(value, list) or len(value) != 2:
        raise _bad(path, key, f"expected [min, max] (or {{min: ..., max: ...}}), got {value!r}")
    low, high = (_number(path, key, v) for v in value)
    if not low < high:
        raise _bad(path, key, f"min {low:g} must be below max {high:g}")
    return low, high


def _dimension(path: str, k: int, raw: Any) -> Dimension:
    key = f"dimensions[{k}]"
    if not isinstance(raw, dict):
        raise _bad(path, key, f"expected a mapping with name, description, scale and weight, got {raw!r}")
    unknown = set(raw) - _DIMENSION_KEYS
    if unknown:
        raise _bad(path, f"{key}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(_DIMENSION_KEYS))})")
    for needed in ("name", "description", "scale"):
        if needed not in raw:
            raise _bad(path, f"{key}.{needed}", "missing")
    name = _text(path, f"{key}.name", raw["name"]).strip()
    if ":" in name or "\n" in name:
        raise _bad(path, f"{key}.name", f"{name!r} may hold no ':' or line break (answers are 'NAME: score' lines)")
    weight = _number(path, f"{key}.weight", raw.get("weight", 1.0))
    if weight < 0:
        raise _bad(path, f"{key}.weight", f"must be >= 0, got {weight:g}")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise _bad(path, f"{key}.aliases", f"expected a list of names, got {aliases!r}")
    low, high = _scale(path, f"{key}.scale", raw["scale"])
    return Dimension(
        name, _text(path, f"{key}.description", raw["description"]).strip(), low, high, weight, tuple(aliases)
    )


def parse_rubric(path: str, data: Any) -> Rubric:
    """A rubric from its parsed YAML; ``path`` names it in errors."""
    if not isinstance(data, dict):
        raise _bad(path, "(top level)", "expected a mapping with prompt and dimensions")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _bad(path, sorted(unknown)[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    for needed in ("prompt", "dimensions"):
        if needed not in data:
            raise _bad(path, needed, "missing")
    if not isinstance(data["dimensions"], list) or not data["dimensions"]:
        raise _bad(path, "dimensions", "expected a non-empty list")
    dimensions = tuple(_dimension(path, k, raw) for k, raw in enumerate(data["dimensions"]))
    seen: dict[str, int] = {}
    for k, d in enumerate(dimensions):
        for n in (d.name, *d.aliases):
            if name_key(n) in seen:
                raise _bad(path, f"dimensions[{k}]", f"{n!r} is also the name of dimensions[{seen[name_key(n)]}]")
            seen[name_key(n)] = k
    if not sum(d.weight for d in dimensions) > 0:
        raise _bad(path, "dimensions", "every weight is 0")
    return Rubric(
        path,
        _text(path, "name", data.get("name", Path(path).stem)),
        _text(path, "prompt", data["prompt"]),
        dimensions,
        _text(path, "system", data.get("system"), required=False) or None,
        _text(path, "description", data.get("description"), required=False),
    )


def load_rubric(path: str) -> Rubric:
    """The rubric in the YAML file ``path``; a file that is not one is one line naming it and the key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--rubric {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise _bad(path, where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    return parse_rubric(path, data)
