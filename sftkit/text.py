"""Words in every script, and the invisible characters that must not count: the rules that dedup,
decontamination and cleaning share, so one text is split the same way by each.

A "word" depends on the script. Latin, Cyrillic, Greek, Arabic, Hangul and the Indic scripts put
spaces between words: a word is a run of letters, digits and combining marks (so a Hindi word is not cut
at every vowel sign, as ``\\w+`` cuts it). Chinese, Japanese, Thai, Lao, Khmer and Myanmar do not: each
character (with the combining marks that follow it) is a word of its own, and n-grams of them are the
character n-grams the dedup literature uses for these languages. Mixed text is split run by run, so
``例3 Let x`` is ``例``, ``3``, ``let``, ``x``. Any other visible character is a symbol word.

Invisible format characters (Unicode category Cf: zero-width space, soft hyphen, BOM, word joiner,
bidi marks) are removed before comparing texts: three of them in a copied paragraph must not hide it.
"""

from __future__ import annotations

import re
import unicodedata

import regex

# scripts written without spaces between words: one character (and its marks) per word
UNSPACED = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_TOKEN = regex.compile(
    rf"[{UNSPACED}]\p{{M}}*"  # a character of an unspaced script with its marks
    rf"|(?:(?![{UNSPACED}])[\p{{L}}\p{{N}}\p{{M}}_])+"  # a word of a spaced script
    r"|[^\p{L}\p{N}\p{M}_\s\p{Cf}]"  # a symbol (format characters are no words)
)
_WORD = regex.compile(_TOKEN.pattern.rsplit("|", 1)[0])  # the same, without symbols
_INVISIBLE = regex.compile(r"\p{Cf}+")
# text without marks, format characters or unspaced scripts splits the same with the faster ``re``
_NEEDS_SCRIPTS = regex.compile(rf"[\p{{M}}\p{{Cf}}{UNSPACED}]")
_PLAIN_TOKEN, _PLAIN_WORD = re.compile(r"\w+|[^\w\s]"), re.compile(r"\w+")
_LETTER = regex.compile(r"\p{L}")
_UNSPACED_LETTER = regex.compile(rf"(?=\p{{L}})[{UNSPACED}]")
_UNSPACED_START = regex.compile(rf"[{UNSPACED}]")


def strip_invisible(text: str) -> str:
    """``text`` without format characters (Cf); ASCII text has none and is returned as is."""
    return text if text.isascii() else _INVISIBLE.sub("", text)


def tokens(text: str, symbols: bool = True) -> list[str]:
    """The words of ``text`` by the rules above; ``symbols=False`` keeps letters, digits and marks only."""
    if _NEEDS_SCRIPTS.search(text) is None:
        return (_PLAIN_TOKEN if symbols else _PLAIN_WORD).findall(text)
    return (_TOKEN if symbols else _WORD).findall(text)


def unspaced(token: str) -> bool:
    """Whether ``token`` (one of :func:`tokens`) is a character of a script written without spaces: n-grams
    count such characters, not words, and need more of them for the same evidence."""
    return not token.isascii() and _UNSPACED_START.match(token) is not None


def unspaced_share(text: str) -> float:
    """The share of letters in ``text`` from scripts written without spaces (CJK, Thai, ...): rules that
    count words by spaces must count characters instead where this is high."""
    letters = len(_LETTER.findall(text))
    return len(_UNSPACED_LETTER.findall(text)) / letters if letters else 0.0


def nfkc_casefold(text: str) -> str:
    """The comparison form of a text: NFKC, case folded, invisible characters removed, whitespace collapsed."""
    if text.isascii():
        return " ".join(text.lower().split())
    return " ".join(unicodedata.normalize("NFKC", strip_invisible(text)).casefold().split())
