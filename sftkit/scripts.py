"""Which languages a text is written in, told by its writing systems: the card's ``language`` from the data.

The rule (documented in docs/stages/upload.md): split the text into words as ``sftkit.text`` does for every
stage (a Han or Kana character is a word of its own; Latin and Hangul words are runs between spaces), after
removing LaTeX commands such as ``\\frac``, and count the words per script: Han, Kana, Hangul, and Latin words
of two letters or more (one-letter variables do not count). Han goes to ``zh``, unless Kana make up at least a
tenth of the Han and Kana words (Japanese mixes both): then both go to ``ja``; Hangul to ``ko``; Latin to
``en``. Every language with at least ``MIN_SHARE`` of the counted words is listed, largest first; a text
without any is ``en``. It tells scripts, not languages written in one script (French counts as ``en``): a
later change may put the cleaning stage's language-ID model here behind the same function.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import regex

from sftkit.text import tokens

MIN_SHARE = 0.2
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_SCRIPTS = (
    ("han", regex.compile(r"\p{Han}")),
    ("kana", regex.compile(r"[\p{Hiragana}\p{Katakana}]")),
    ("hangul", regex.compile(r"\p{Hangul}")),
    ("latin", regex.compile(r"[A-Za-z]{2}")),
)


def script_units(texts: Iterable[str]) -> Counter:
    """Words per script over ``texts``: han, kana, hangul, latin (the rule above)."""
    units: Counter = Counter()
    for text in texts:
        for word in tokens(_LATEX_COMMAND.sub(" ", text), symbols=False):
            script = next((name for name, pattern in _SCRIPTS if pattern.match(word)), None)
            if script:
                units[script] += 1
    return units


def languages(texts: Iterable[str]) -> list[str]:
    """The ISO 639-1 codes of the languages ``texts`` are written in, by the rule above."""
    units = script_units(texts)
    total = sum(units.values())
    if not total:
        return ["en"]
    japanese = units["kana"] > 0 and units["kana"] >= 0.1 * (units["han"] + units["kana"])
    shares = Counter({"ko": units["hangul"], "en": units["latin"]})
    if japanese:
        shares["ja"] = units["han"] + units["kana"]
    else:
        shares.update({"zh": units["han"], "ja": units["kana"]})
    return [code for code, n in shares.most_common() if n and n / total >= MIN_SHARE]
