"""Words per script and invisible characters (sftkit/text.py), shared by dedup, decontamination and cleaning."""

from __future__ import annotations

import pytest

from sftkit.text import nfkc_casefold, strip_invisible, tokens, unspaced_share

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x + y = 3", ["x", "+", "y", "=", "3"]),
        ("例3 Let x", ["例", "3", "Let", "x"]),  # a run of each script, by its own rule
        ("今日は東京", ["今", "日", "は", "東", "京"]),  # Chinese and Japanese: one character per word
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),  # vowel signs stay inside their word
        ("สวัสดี", ["ส", "วั", "ส", "ดี"]),  # Thai: a character with its marks
        ("안녕하세요 세계", ["안녕하세요", "세계"]),  # Korean puts spaces between words
        ("naïve café", ["naïve", "café"]),
    ],
)
def test_words_per_script(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_symbols_can_be_left_out() -> None:
    assert tokens("x + y = 3。", symbols=False) == ["x", "y", "3"]


@pytest.mark.parametrize("mark", ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200e"])
def test_invisible_characters_are_removed(mark: str) -> None:
    copy = f"the{mark} quick brown{mark} fox"
    assert strip_invisible(copy) == "the quick brown fox"
    assert nfkc_casefold(copy) == nfkc_casefold("The quick  brown fox")
    assert tokens(copy, symbols=True) == ["the", "quick", "brown", "fox"]


def test_unspaced_share() -> None:
    assert unspaced_share("今日は東京") == 1.0
    assert unspaced_share("hello world") == 0.0
    assert unspaced_share("สวัสดี") == 1.0  # marks are not counted as letters
    assert 0 < unspaced_share("例3 Let x be") < 0.5
    assert unspaced_share("123 + 4") == 0.0


@pytest.mark.parametrize(
    "text", ["x + y = 3, naïve café Straße", "a²+b² = c² ½ x_1 h2o", "Ελληνικά Кириллица عربى", "tab\tand\nlines"]
)
def test_the_plain_path_splits_as_the_script_rules_do(text: str) -> None:
    """Text without marks, format characters or unspaced scripts takes the faster ``re`` path: same words."""
    from sftkit.text import _TOKEN, _WORD

    assert tokens(text) == _TOKEN.findall(text) and tokens(text, symbols=False) == _WORD.findall(text)


def test_unspaced_tokens() -> None:
    from sftkit.text import unspaced

    assert [unspaced(t) for t in tokens("例3 Let x สวัสดี")] == [True, False, False, False, True, True, True, True]
