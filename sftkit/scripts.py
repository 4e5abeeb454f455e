"""Which languages a text is written in, told by its writing systems: the card's ``language`` from the data.

The rule (documented in docs/stages/upload.md): count units over the text, one per Han, Kana or Hangul
character and one per Latin word (a run of two or more ASCII letters not after a backslash, so LaTeX commands
such as ``\\frac`` and one-letter variables do not count). Han goes to ``zh``, unless Kana make up at least a
tenth of the Han and Kana units (Japanese mixes both): then both go to ``ja``; Hangul to ``ko``; Latin words
to ``en``. Every language with at least ``MIN_SHARE`` of the units is listed, largest first; a text without
any unit is ``en``. It tells scripts, not languages written in one script (French counts as ``en``): a later
change may put the cleaning stage's language-ID model here behind the same function.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

MIN_SHARE = 0.2
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")


def script_units(texts: Iterable[str]) -> Counter:
    """Units per script over ``texts``: han, kana, hangul characters; latin words."""
    units: Counter = Counter()
    for text in texts:
        units["han"] += len(_HAN.findall(text))
        units["kana"] += len(_KANA.findall(text))
        units["hangul"] += len(_HANGUL.findall(text))
        units["latin"] += len(_LATIN_WORD.findall(text))
    return units


def languages(texts: Iterable[str]) -> list[str]:
    """The ISO 639-1 codes of the languages ``texts`` are written in, by the rule above."""
    units = script_units(texts)
    total = sum(units.values())
    if not total:
        return ["en"]
    japanese = units["kana"] >= 0.1 * (units["han"] + units["kana"]) and units["kana"] > 0
    shares = Counter(
        {
            "ja" if japanese else "zh": units["han"] + (units["kana"] if japanese else 0),
            "ko": units["hangul"],
            "en": units["latin"],
        }
    )
    if not japanese:
        shares["ja"] = units["kana"]
    return [code for code, n in shares.most_common() if n and n / total >= MIN_SHARE]
