"""One written form for the LaTeX of competition problems, so a copy reformatted is still a copy.

Benchmark problems and rows are rewritten the same way before their n-grams are taken:
``\\dfrac``/``\\tfrac`` are ``\\frac`` (and ``\\dbinom`` ``\\binom``, ``\\leq`` ``\\le``, ``\\geq``
``\\ge``, ``\\neq`` ``\\ne``, ``\\ldots``/``\\cdots`` ``\\dots``); ``\\left``/``\\right``,
``\\displaystyle`` and the spacing commands (``\\,`` ``\\;`` ``\\:`` ``\\!`` ``\\quad`` ``\\qquad``
``~``) are dropped; ``\\cdot``, ``\\times`` and ``\\ast`` are one operator; braces around a single
token are dropped (``\\log_{2}`` is ``\\log_2``, ``\\sqrt{2}`` is ``\\sqrt2``); a fraction of two
numbers or single tokens is ``a/b`` (``\\frac12``, ``\\frac{1}{2}`` and ``1/2`` are one form); sub-
and superscript marks and a command's name stand apart from what follows (``\\sqrt2`` and
``\\sqrt 2``). Only matching sees this form: rows are written as read.
"""

from __future__ import annotations

import re

_SYNONYMS = {"dfrac": "frac", "tfrac": "frac", "dbinom": "binom", "tbinom": "binom", "leq": "le", "geq": "ge"}
_SYNONYMS |= {"leqslant": "le", "geqslant": "ge", "neq": "ne", "ldots": "dots", "cdots": "dots"}
_SYNONYM = re.compile(rf"\\({'|'.join(_SYNONYMS)})(?![a-zA-Z])")
_SIZING = re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)[lr]?(?![a-zA-Z])\.?|\\(?:display|text)style(?![a-zA-Z])")
_SPACING = re.compile(r"\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_TIMES = re.compile(r"\\(?:cdot|times|ast)(?![a-zA-Z])")
_SINGLE = re.compile(r"\{\s*(\\[a-zA-Z]+|[^{}\s\\])\s*\}")  # {2}, {x}, {\pi}: one token in braces
_ARG = r"(?:\{\s*(\w+)\s*\}|\s*(\w))"  # a fraction's argument: a number or word in braces, or one character
_FRAC = re.compile(rf"\\frac{_ARG}{_ARG}")
_SCRIPT = re.compile(r"[_^]")
_COMMAND_THEN = re.compile(r"(\\[a-zA-Z]+)(?=[0-9])")


def _fraction(match: re.Match) -> str:
    top, bottom = match.group(1) or match.group(2), match.group(3) or match.group(4)
    return f" {top}/{bottom} "


def math_form(text: str) -> str:
    """``text`` in the one form above (plain text comes back with its words unchanged)."""
    if "\\" not in text and "{" not in text and "_" not in text and "^" not in text and "~" not in text:
        return text
    text = _SYNONYM.sub(lambda m: "\\" + _SYNONYMS[m.group(1)], text)
    text = _SIZING.sub(" ", text)
    text = _SPACING.sub(" ", text)
    text = _TIMES.sub(r" \\times ", text)
    previous = None
    while previous != text:  # {{2}} -> {2} -> 2
        previous, text = text, _SINGLE.sub(r" \1 ", text)
    text = _FRAC.sub(_fraction, text)
    text = _SCRIPT.sub(lambda m: f" {m.group()} ", text)
    return _COMMAND_THEN.sub(r"\1 ", text)
