"""Toxicity screening: a word list (English on word boundaries, Chinese as substrings), and optionally a
sequence-classification model run with transformers.

The lists are in ``wordlists/`` with their source and license. A word list only finds the words on it; the
model (``--toxicity-model PATH``) scores meaning, at the cost of a forward pass per row.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from sftkit.errors import InputError

WORDLISTS = Path(__file__).with_name("wordlists")


def _terms(name: str) -> list[str]:
    lines = (WORDLISTS / name).read_text(encoding="utf-8").splitlines()
    return [t.strip().lower() for t in lines if t.strip() and not t.startswith("#")]


_ASCII_WORD = re.compile(r"[a-z0-9]+")


@cache
def _lists() -> tuple[frozenset[str], tuple[str, ...]]:
    return frozenset(_terms("en.txt")), tuple(_terms("zh.txt"))


def listed_terms(text: str) -> list[str]:
    """The listed terms in ``text``: English words (a run of letters and digits, so word boundaries) in order,
    then Chinese substrings, each as often as it occurs (lower case)."""
    en, zh = _lists()
    found = [w for w in _ASCII_WORD.findall(text.lower()) if w in en]
    if not text.isascii():
        found += [t for t in zh for _ in range(text.count(t))]
    return found


class ToxicityModel:
    """A sequence classifier, on the GPU when there is one; a row's score is the probability of its toxic label
    (a label named like "toxic", else the last one)."""

    def __init__(self, path: str, batch_size: int = 32, max_length: int = 512) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForSequenceClassification.from_pretrained(path).eval().to(self.device)
        except (OSError, ValueError) as exc:
            raise InputError(f"--toxicity-model {path}: cannot load a sequence classifier ({exc})") from None
        labels = {i: str(n).lower() for i, n in (self.model.config.id2label or {}).items()}
        toxic = [i for i, n in labels.items() if "toxic" in n and "non" not in n and "not" not in n]
        self.label = toxic[0] if toxic else self.model.config.num_labels - 1
        self.batch_size, self.max_length = batch_size, max_length

    def scores(self, texts: list[str]) -> list[float]:
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(
                    texts[i : i + self.batch_size],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits: Any = self.model(**enc).logits
                out += torch.softmax(logits.float(), dim=-1)[:, self.label].tolist()
        return out
