"""Long documents in slices of at most N tokens of the model's own tokenizer, before prompting.

Counts are exact: a slice is a run of the tokenizer's tokens, cut where its offsets say a token starts
(``--chunk-tokens`` tokens at most, ``--chunk-overlap`` of them repeated at the head of the next slice).
A cut never falls between two tokens that share a character (byte-level tokenizers split a CJK
character or an emoji into several), so no UTF-8 character is ever cut; and a cut that would fall inside
a fenced code block (```) moves back to the fence's start when that still leaves at least half a slice.
The slices cover the whole text in order: joined without their overlaps they are the text.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

from sftkit.errors import InputError

_FENCE = re.compile(r"^[ \t]*```", re.MULTILINE)


def fence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block; an unclosed fence runs to the end of the text."""
    marks = [m.start() for m in _FENCE.finditer(text)]
    spans = []
    for k in range(0, len(marks), 2):
        end = text.find("\n", marks[k + 1]) if k + 1 < len(marks) else len(text)
        spans.append((marks[k], len(text) if end < 0 or k + 1 >= len(marks) else end))
    return spans


@dataclass
class Chunker:
    """Slices of ``tokens`` tokens (``overlap`` shared between neighbours) by ``tokenizer``'s offsets."""

    tokenizer: Any
    tokens: int
    overlap: int = 0

    def __post_init__(self) -> None:
        if self.tokens < 1 or not 0 <= self.overlap < self.tokens:
            raise InputError(f"--chunk-tokens {self.tokens} --chunk-overlap {self.overlap}: need 0 <= overlap < tokens")

    def slices(self, text: str) -> list[str]:
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        n = len(offsets)
        if n <= self.tokens:
            return [text]
        # a cut before token b is clean when b starts where the token before it ended, or later
        clean = [b for b in range(1, n) if offsets[b][0] >= offsets[b - 1][1]]
        fences = fence_spans(text)
        pieces, start = [], 0
        while True:
            if n - start <= self.tokens:
                pieces.append(text[offsets[start][0] if start else 0 :])
                return pieces
            cut = self._cut(clean, offsets, fences, start)
            pieces.append(text[offsets[start][0] if start else 0 : offsets[cut][0]])
            back = bisect.bisect_right(clean, cut - self.overlap) - 1
            start = clean[back] if back >= 0 and clean[back] > start else cut

    def _cut(self, clean: list[int], offsets: list, fences: list[tuple[int, int]], start: int) -> int:
        """The token the next slice starts at: the last clean cut within ``tokens`` of ``start``,
        moved back before a code fence it would split when that leaves half a slice."""
        k = bisect.bisect_right(clean, start + self.tokens) - 1
        if k < 0 or clean[k] <= start:  # no clean cut in reach (one huge character run): the first after
            return clean[bisect.bisect_right(clean, start)]
        cut = clean[k]
        at = offsets[cut][0]
        for lo, hi in fences:
            if lo < at < hi:
                j = bisect.bisect_right(clean, start)
                before = [b for b in clean[j : k + 1] if offsets[b][0] <= lo]
                if before and before[-1] - start >= self.tokens // 2:
                    return before[-1]
        return cut
