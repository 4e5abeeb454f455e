"""Prompt templates with ``{{name}}`` placeholders, filled in one pass.

One pass means a value is never scanned again: a question that itself contains ``{{answer}}`` (or
a judge prompt quoting another prompt) stays as written. The predecessor formatted judge prompts
into themselves. Single braces are left alone, so LaTeX (``\\boxed{}``) and JSON examples need no
escaping. A placeholder without a value is an error naming it and the template.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sftkit.errors import InputError

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, values: dict[str, object], where: str = "prompt") -> str:
    missing = placeholders(template) - set(values)
    if missing:
        raise InputError(f"{where}: no value for {', '.join(sorted(missing))}; available: {', '.join(sorted(values))}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


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
