"""Personal data and secrets found in text, each replaced by a typed placeholder (``<EMAIL>``, ...).

A pattern alone fires on too much (any 11 digits, any 16 digits), so each kind is checked as its issuer
checks it: cards by Luhn and issuer prefix, Chinese resident IDs by their ISO 7064 check character and a
real birth date, IBANs by mod 97. What only looks like a number is left alone:

- inside math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) and code (fenced blocks, inline
  backticks), only secrets and emails are looked for: ``$\\frac{13800138000}{2}$`` is a number;
- a number written as a LaTeX argument (``{...}``, after ``^`` or ``_``) is a number too;
- a dotted quad after "version", "ver", "v" or "release" is a version string, not an IP address;
- digits after ``#``, "No.", "order", "ticket", "invoice" or "ISBN" are a reference number, not a phone or card;
- private, loopback, link-local and reserved IP addresses are not personal (``private_ips`` masks them too).

Dates (2023-01-15, 15/01/2023), ISBNs and order numbers fit none of the patterns or fail their checks.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass

KINDS = ("SECRET", "EMAIL", "IBAN", "CN_ID", "CREDIT_CARD", "PHONE", "IP_ADDRESS")  # the order they are looked for
ANYWHERE = frozenset(("SECRET", "EMAIL"))  # looked for inside math and code too

_PROTECTED = re.compile(
    r"```.*?```|~~~.*?~~~|`[^`\n]+`|\$\$.*?\$\$|(?<![\\$])\$[^$\n]+?(?<!\\)\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S
)
_PATTERNS = {
    "SECRET": re.compile(
        r"(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|gh[pousr]_[A-Za-z0-9]{36,}"
        r"|github_pat_[A-Za-z0-9_]{22,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})(?![A-Za-z0-9_-])"
        r"|(?i:(?<=bearer )|(?<=bearer: ))[A-Za-z0-9._~+/-]{20,}=*"  # the token after "Bearer": the word stays
    ),
    "EMAIL": re.compile(r"(?<![A-Za-z0-9_.%+-])[A-Za-z0-9_.%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9_-])"),
    "IBAN": re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"),
    "CN_ID": re.compile(r"(?<![0-9A-Za-z])[1-8]\d{16}[0-9Xx](?![0-9A-Za-z])"),
    "CREDIT_CARD": re.compile(r"(?<![\d.-])\d(?:[ -]?\d){12,18}(?![\d-]|\.\d)"),
    "PHONE": re.compile(
        r"(?<![A-Za-z0-9_+#])(?:\+86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"  # mainland China mobile
        r"|(?<![A-Za-z0-9_+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]?\d{2,4}){2,4}(?!\d)"  # international +CC
        r"|(?<![A-Za-z0-9_+#])(?:1[ .-])?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?!\d)"  # N. American
    ),
    "IP_ADDRESS": re.compile(
        r"(?<![A-Za-z0-9_.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![A-Za-z0-9_]|\.\d)"
        r"|(?<![A-Za-z0-9_:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![A-Za-z0-9_:])"
    ),
}
# what a text must hold for a kind to be possible at all: one fast scan saves the slower pattern's
_POSSIBLE = {
    "SECRET": re.compile(r"sk-|hf_|gh[pousr]_|github_pat_|AKIA|xox|(?i:bearer)"),
    "EMAIL": re.compile(r"@"),
    "IBAN": re.compile(r"[A-Z]{2}\d\d"),
    "CN_ID": re.compile(r"\d{17}"),
    "CREDIT_CARD": re.compile(r"\d{4}"),
    "PHONE": re.compile(r"\d{3}[ .-]?\d{3}|\+\d"),
    "IP_ADDRESS": re.compile(r"\d\.\d{1,3}\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]*:"),
}
_ANY_POSSIBLE = re.compile("|".join(p.pattern for p in _POSSIBLE.values()))  # prose without any: one scan
_VERSION_BEFORE = re.compile(r"\b(?:version|ver\.?|v|release|build)\s*$", re.I)
_ORDER_BEFORE = re.compile(r"(?:#|\bno\.|\border|\bticket|\binvoice|\bisbn)[\s:]*$", re.I)
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[0-8]|6[0245]")
_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def cn_id_valid(text: str) -> bool:
    """GB 11643-1999: the check character of the first 17 digits, and a birth date that exists."""
    body, check = text[:17], text[17].upper()
    if _CN_CHECK[sum(int(d) * w for d, w in zip(body, _CN_WEIGHTS)) % 11] != check:
        return False
    year, month, day = int(text[6:10]), int(text[10:12]), int(text[12:14])
    if not 1900 <= year <= 2100 or not 1 <= month <= 12:
        return False
    days = (31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return 1 <= day <= days[month - 1]


def iban_valid(text: str) -> bool:
    """ISO 13616: 15 to 34 characters whose rearranged digits leave 1 modulo 97."""
    code = text.replace(" ", "")
    if not 15 <= len(code) <= 34:
        return False
    return int("".join(str(int(c, 36)) for c in code[4:] + code[:4])) % 97 == 1


def _ip_personal(text: str, private_ips: bool) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if private_ips:
        return True
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def _latex_argument(text: str, start: int, end: int) -> bool:
    return (start > 0 and text[start - 1] in "{^_\\") or (end < len(text) and text[end] == "}")


def _valid(kind: str, text: str, start: int, end: int, private_ips: bool) -> bool:
    value = text[start:end]
    before = text[max(0, start - 12) : start]
    if kind in ANYWHERE:
        return True
    if _latex_argument(text, start, end):
        return False
    if kind == "IBAN":
        return iban_valid(value)
    if kind == "CN_ID":
        return cn_id_valid(value)
    if kind == "CREDIT_CARD":
        digits = value.replace(" ", "").replace("-", "")
        return bool(_CARD_PREFIX.match(digits)) and luhn(digits) and not _ORDER_BEFORE.search(before)
    if kind == "PHONE":
        return not _ORDER_BEFORE.search(before) and 8 <= sum(c.isdigit() for c in value) <= 15
    if kind == "IP_ADDRESS":
        if "." in value and _VERSION_BEFORE.search(before):
            return False
        return ("." in value or (value.count(":") >= 2 and any(c.isalnum() for c in value))) and _ip_personal(
            value, private_ips
        )
    return True


def _protected(text: str) -> list[tuple[int, int]]:
    if not ("$" in text or "`" in text or "~~~" in text or "\\" in text):
        return []
    return [m.span() for m in _PROTECTED.finditer(text)]


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(lo <= start and end <= hi for lo, hi in spans)


def find(text: str, private_ips: bool = False, kinds: tuple[str, ...] = KINDS) -> list[Match]:
    """Non-overlapping matches in ``text``, sorted by position; an earlier kind of ``KINDS`` wins an overlap."""
    spans = None
    taken: list[Match] = []
    if not _ANY_POSSIBLE.search(text):
        return taken
    for kind in kinds:
        if not _POSSIBLE[kind].search(text):
            continue
        for m in _PATTERNS[kind].finditer(text):
            start, end = m.span()
            if any(t.start < end and start < t.end for t in taken):
                continue
            if kind not in ANYWHERE:
                spans = _protected(text) if spans is None else spans
                if _inside(spans, start, end):
                    continue
            if _valid(kind, text, start, end, private_ips):
                taken.append(Match(kind, start, end))
    return sorted(taken, key=lambda t: t.start)


def mask(text: str, matches: list[Match]) -> str:
    """``text`` with each match replaced by ``<KIND>``."""
    out, pos = [], 0
    for m in matches:
        out += [text[pos : m.start], f"<{m.kind}>"]
        pos = m.end
    out.append(text[pos:])
    return "".join(out)


def count(matches: list[Match]) -> Counter:
    return Counter(m.kind for m in matches)
