"""Prompt templates with ``{{name}}`` placeholders, filled in one pass.

One pass means a value is never scanned again: a question that itself contains ``{{answer}}`` (or
a judge prompt quoting another prompt) stays as written. The predecessor formatted judge prompts
into themselves. Single braces are left alone, so LaTeX (``\\boxed{}``) and JSON examples need no
escaping. A placeholder without a value is an error naming it and the template.

A dotted name (``{{meta.topic}}``) reaches into nested fields of a row (a digit step indexes a list);
a key that itself holds a dot is found first. A value that is a mapping or a list is filled in as JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sftkit.errors import InputError

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+(?:\.\w+)*)\s*\}\}")
ABSENT = object()  # what lookup() returns for a name the values lack


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def lookup(values: dict[str, Any], name: str) -> Any:
    """The value a placeholder names, or ``ABSENT``: a flat key first, then a path through nested fields."""
    if name in values:
        return values[name]
    value: Any = values
    for step in name.split("."):
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return ABSENT
    return value


def missing(template: str, values: dict[str, Any]) -> list[str]:
    """The template's placeholders that ``values`` has no value for, sorted."""
    return sorted(name for name in placeholders(template) if lookup(values, name) is ABSENT)


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def fill(template: str, values: dict[str, Any], where: str = "prompt") -> str:
    absent = missing(template, values)
    if absent:
        raise InputError(f"{where}: no value for {', '.join(absent)}; available: {', '.join(sorted(values))}")
    return _PLACEHOLDER.sub(lambda m: _text(lookup(values, m.group(1))), template)


def sha256(template: str) -> str:
    """A short content hash: outputs and checkpoints name the exact prompt, whatever file held it."""
    return hashlib.sha256(template.encode()).hexdigest()[:16]


def load(path: str | None, default: str, required: set[str]) -> str:
    """The template in ``path`` (else ``default``); it must use every placeholder in ``required``."""
    if path is None:
        return default
    text = Path(path).read_text(encoding="utf-8")
    missing = required - placeholders(text)
    if missing:
        raise InputError(f"--prompt-file {path}: must use {', '.join('{{' + m + '}}' for m in sorted(missing))}")
    return text
