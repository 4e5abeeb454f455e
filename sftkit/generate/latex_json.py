"""A JSON reader for model output that keeps LaTeX.

The default prompt asks for two tagged blocks, ``<question>…</question>`` and ``<answer>…</answer>``,
because nothing inside them needs escaping: LaTeX goes in as written. The last complete block of each
is taken (a model may write drafts first), byte-exact apart from surrounding whitespace.
"""

from __future__ import annotations

import re
from typing import Any

# After ``\n`` or ``\t`` a run of letters is ambiguous: ``\nHow`` is a newline before "How", ``\neq`` is
# LaTeX. These names are read as LaTeX. Only names starting with n or t matter: after ``\b``, ``\f``
# and ``\r`` a letter always means LaTeX (a backspace, form feed or carriage return before a word is
# never meant). Left out on purpose: ``\ni`` (a newline before "i.e.").
LATEX_COMMANDS = frozenset(
    (
        "nabla",
        "natural",
        "ncong",
        "ne",
        "nearrow",
        "neg",
        "neq",
        "newline",
        "nexists",
        "ngeq",
        "ngeqq",
        "ngeqslant",
        "ngtr",
        "nLeftarrow",
        "nleftarrow",
        "nleftrightarrow",
        "nleq",
        "nleqq",
        "nleqslant",
        "nless",
        "nmid",
        "noindent",
        "nolimits",
        "nonumber",
        "normalsize",
        "not",
        "notag",
        "notin",
        "nparallel",
        "nprec",
        "nRightarrow",
        "nrightarrow",
        "nshortmid",
        "nsim",
        "nsubseteq",
        "nsucc",
        "nsupseteq",
        "ntriangleleft",
        "ntriangleright",
        "nu",
        "nvdash",
        "nwarrow",
        "tan",
        "tanh",
        "tau",
        "tbinom",
        "text",
        "textbf",
        "textcolor",
        "textdegree",
        "textit",
        "textnormal",
        "textrm",
        "textsc",
        "textsf",
        "textsl",
        "textstyle",
        "textsubscript",
        "textsuperscript",
        "texttt",
        "textup",
        "tfrac",
        "therefore",
        "theta",
        "thickapprox",
        "thicksim",
        "thinspace",
        "tilde",
        "times",
        "tiny",
        "to",
        "top",
        "triangle",
        "triangledown",
        "triangleleft",
        "trianglelefteq",
        "triangleq",
        "triangleright",
        "trianglerighteq",
        "tt",
        "twoheadrightarrow",
    )
)


FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_PLAIN = re.compile(r'[^"\\]*')
_LETTERS = re.compile(r"[A-Za-z]+")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _NotJSON(ValueError):
    """The text at this position is not a JSON value, even leniently read."""


def _skip_space(text: str, pos: int) -> int:
    """Past JSON's own whitespace (not Unicode's: a form feed there is not JSON)."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _escape(text: str, pos: int) -> tuple[str, int]:
    """The text a backslash at ``pos`` (inside a string) stands for, and where reading goes on."""
    letter = text[pos + 1 : pos + 2]
    if not letter:
        raise _NotJSON("a string ends in a backslash")
    if letter in '"\\/':
        return letter, pos + 2
    if letter == "u" and _HEX4.fullmatch(text, pos + 2, pos + 6):
        code = int(text[pos + 2 : pos + 6], 16)
        if 0xD800 <= code < 0xDC00 and text[pos + 6 : pos + 8] == "\\u" and _HEX4.fullmatch(text, pos + 8, pos + 12):
            low = int(text[pos + 8 : pos + 12], 16)
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), pos + 12
        if 0xD800 <= code < 0xE000:
            raise _NotJSON("a lone surrogate escape")  # no UTF-8 writer could store it
        return chr(code), pos + 6
    if letter in _ESCAPES:
        name = _LETTERS.match(text, pos + 1).group()
        if len(name) == 1 or (letter in "nt" and name not in LATEX_COMMANDS):
            return _ESCAPES[letter], pos + 2
    return "\\", pos + 1  # a LaTeX command or TeX punctuation (\sqrt, \(, \,): the backslash is text


def _string(text: str, pos: int) -> tuple[str, int]:
    """A string literal whose opening quote is just before ``pos``; raw control characters are allowed."""
    parts = []
    while True:
        plain = _PLAIN.match(text, pos)
        parts.append(plain.group())
        pos = plain.end()
        if pos >= len(text):
            raise _NotJSON("an unterminated string")
        if text[pos] == '"':
            return "".join(parts), pos + 1
        piece, pos = _escape(text, pos)
        parts.append(piece)


def _value(text: str, pos: int) -> tuple[Any, int]:
    """The JSON value starting at ``pos`` (after any space), and the position after it."""
    pos = _skip_space(text, pos)
    char = text[pos : pos + 1]
    if char == '"':
        return _string(text, pos + 1)
    if char in ("{", "["):
        return _container(text, pos + 1, char == "{")
    number = _JSON_NUMBER.match(text, pos)
    if number:
        value = float(number.group()) if number.group(1) or number.group(2) else int(number.group())
        return value, number.end()
    for word, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, pos):
            return value, pos + len(word)
    raise _NotJSON(f"no JSON value at {pos}")


def _container(text: str, pos: int, is_object: bool) -> tuple[Any, int]:
    """An object or array whose opening bracket is just before ``pos``."""
    items: list[Any] = []
    close = "}" if is_object else "]"
    pos = _skip_space(text, pos)
    if text[pos : pos + 1] == close:
        return ({} if is_object else []), pos + 1
    while True:
        if is_object:
            pos = _skip_space(text, pos)
            if text[pos : pos + 1] != '"':
                raise _NotJSON(f"no key at {pos}")
            key, pos = _string(text, pos + 1)
            pos = _skip_space(text, pos)
            if text[pos : pos + 1] != ":":
                raise _NotJSON(f"no ':' at {pos}")
            value, pos = _value(text, pos + 1)
            items.append((key, value))
        else:
            value, pos = _value(text, pos)
            items.append(value)
        pos = _skip_space(text, pos)
        char = text[pos : pos + 1]
        if char == close:
            return (dict(items) if is_object else items), pos + 1
        if char != ",":
            raise _NotJSON(f"no ',' or {close!r} at {pos}")
        pos += 1


def loads_keeping_latex(text: str, start: int = 0, whole: bool = True) -> tuple[Any, int]:
    """Decode JSON whose strings may hold unescaped LaTeX (module docstring); ``whole``: nothing but
    space may follow. Raises ValueError if the text is not JSON even so."""
    try:
        value, end = _value(text, start)
    except RecursionError as exc:
        raise _NotJSON("nested too deeply") from exc
    if whole and _skip_space(text, end) != len(text):
        raise _NotJSON(f"text after the value at {end}")
    return value, end


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The object in a fenced block, the whole text, or the last object in it; None if there is none."""
    for candidate in [m.strip() for m in reversed(FENCE.findall(text))] + [text.strip()]:
        try:
            value, _ = loads_keeping_latex(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    for start in reversed([m.start() for m in re.finditer(r"\{", text)]):
        try:
            value, _ = loads_keeping_latex(text, start, whole=False)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None
