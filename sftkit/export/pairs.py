"""Preference pairs (``--format dpo``) from three sources, each row's source found by its fields:

- the LLM filter's full output (``samples``: each sample's ``reasoning`` and ``answer``): per problem, correct
  against incorrect samples, by ``--pair-strategy`` (``random``: ``--pairs-per-problem`` K of all the pairs,
  drawn with a generator seeded by ``--seed`` and the problem; ``longest-vs-shortest``: the K longest correct
  against the K shortest incorrect; ``all``: every pair). Candidates are the distinct answer texts in sorted
  order, so the pairs depend on the row's content and the seed alone: not on row order, sharding, or the order
  of its samples. Truncated and undecided samples are never chosen; ``--rejected-include`` lets them be
  rejected;
- chosen/rejected data (``chosen`` and ``rejected``: Anthropic hh-rlhf transcripts, TRL message lists, or texts
  beside a ``prompt``): their shared turns are the prompt, and each must end in one assistant turn of its own;
- rubric scores (``score``, the score stage's): rows grouped by question, the highest against the lowest score
  when the margin is at least ``--min-margin``; a null score is rejected. Ties go to the text that sorts first.

Each pair is one record: TRL's conversational preference ``prompt``/``chosen``/``rejected`` (message lists), and
``chosen_turn``/``rejected_turn`` (one message each) for LLaMA-Factory's ``ranking`` entry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sftkit.dedup.text import normalize
from sftkit.export.conversation import assistant_turn, checked, from_transcript, parse_messages
from sftkit.export.formats import FormatOptions, field_text, message, system_of, turn
from sftkit.export.reasoning import RowError, inline

STRATEGIES = ("random", "longest-vs-shortest", "all")
UNSURE = ("truncated", "undecided")


@dataclass(frozen=True)
class PairOptions:
    per_problem: int = 1
    strategy: str = "random"
    min_margin: float = 0.0
    rejected_include: tuple[str, ...] = ()  # of UNSURE
    seed: int = 0


Made = tuple[str, dict[str, Any], dict[str, Any]]  # (the prompt's first user turn, record, the row it came from)


def record(prompt: list[dict[str, Any]], system: str | None, chosen: dict, rejected: dict, reasoning: str) -> dict:
    """One pair in TRL's conversational preference shape, plus LLaMA-Factory's single-message columns."""
    head = [{"role": "system", "content": system}] if system else []
    good, bad = message(chosen, reasoning), message(rejected, reasoning)
    return {
        "prompt": [*head, *(message(t, reasoning) for t in prompt)],
        "chosen": [good],
        "rejected": [bad],
        "chosen_turn": good,
        "rejected_turn": bad,
    }


def _answer(text: str, name: str) -> dict[str, Any]:
    """A response text as an assistant turn (its ``<think>`` block split off)."""
    return assistant_turn(text, None, [], f"field {name!r}")


def choose(good: list[str], bad: list[str], opts: PairOptions, key: str) -> list[tuple[str, str]]:
    """The (chosen, rejected) texts of one problem, from its sorted distinct correct and incorrect texts."""
    if opts.strategy == "longest-vs-shortest":
        longest = sorted(good, key=lambda t: (-len(t), t))
        shortest = sorted(bad, key=lambda t: (len(t), t))
        return list(zip(longest, shortest, strict=False))[: opts.per_problem]
    every = [(g, b) for g in good for b in bad]
    if opts.strategy == "all":
        return every
    rng = random.Random(f"{opts.seed}\0{key}")
    return sorted(rng.sample(every, min(opts.per_problem, len(every))))


@dataclass
class _Group:
    """The rows of one prompt in the score source: the best and worst so far, and where they all were."""

    best: tuple[float, str, str, dict[str, Any]]
    worst: tuple[float, str, str, dict[str, Any]]
    locations: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


class PairMaker:
    """Pairs from rows as they come (``row``), and those of the score source once all rows are read (``finish``)."""

    def __init__(self, formatting: FormatOptions, opts: PairOptions) -> None:
        self.formatting, self.opts = formatting, opts
        self.groups: dict[str, _Group] = {}

    def row(self, row: dict[str, Any], location: str) -> list[Made]:
        if row.get("samples") is not None:
            return self._from_samples(row)
        if row.get("chosen") is not None or row.get("rejected") is not None:
            return [self._given(row)]
        if "score" in row:
            self._hold(row, location)
            return []
        raise RowError("no preference data: a dpo row needs the filter's samples, chosen and rejected, or a score")

    def _prompt(self, row: dict[str, Any]) -> str:
        _, question = field_text(row, self.formatting.fields.question)
        if question is None or not question.strip():
            raise RowError(f"no question: {' / '.join(self.formatting.fields.question)} missing or empty")
        return question.strip()

    def _from_samples(self, row: dict[str, Any]) -> list[Made]:
        samples = row["samples"]
        if not isinstance(samples, list):
            raise RowError(f"field 'samples': {type(samples).__name__}, not a list")
        question = self._prompt(row)
        good, bad = set(), set()
        for s in samples:
            text = s.get("answer") if isinstance(s, dict) else None
            if not isinstance(text, str) or not text.strip():
                continue  # a sample with no answer text has nothing to offer either side
            text = inline(s.get("reasoning"), text)  # the filter's <think> block, split off again by _answer
            kind = "truncated" if s.get("truncated") else {True: "correct", False: "incorrect"}.get(s.get("correct"))
            if kind == "correct":
                good.add(text)
            elif kind == "incorrect" or (kind or "undecided") in self.opts.rejected_include:
                bad.add(text)
        bad -= good
        if not good or not bad:
            raise RowError(f"no pair: {len(good)} correct and {len(bad)} incorrect distinct answers")
        pairs = choose(sorted(good), sorted(bad), self.opts, normalize(question))
        prompt, system = [{"role": "user", "content": question}], system_of(row, self.formatting)
        reasoning = self.formatting.reasoning
        return [
            (question, record(prompt, system, _answer(g, "samples"), _answer(b, "samples"), reasoning), row)
            for g, b in pairs
        ]

    def _side(self, row: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = row.get(name)
        if isinstance(value, list):
            turns, system = parse_messages(value, name)
            if system is not None:
                raise RowError(f"field {name!r}: a system turn (give it in 'prompt' or a system field)")
            return turns
        if isinstance(value, str) and "prompt" in row and not value.startswith("\n\nHuman:"):
            return [_answer(value, name)]
        if isinstance(value, str):
            return from_transcript(value, name)
        raise RowError(f"field {name!r}: {type(value).__name__}, not a transcript or a list of messages")

    def _given(self, row: dict[str, Any]) -> Made:
        head, system = [], None
        prompt = row.get("prompt")
        if isinstance(prompt, str):
            head = [{"role": "user", "content": prompt.strip()}] if prompt.strip() else []
        elif prompt is not None:
            head, system = parse_messages(prompt, "prompt")
        chosen, rejected = head + self._side(row, "chosen"), head + self._side(row, "rejected")
        n = 0
        while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
            n += 1
        if chosen == rejected:
            raise RowError("chosen and rejected are the same")
        last = {chosen[-1]["role"], rejected[-1]["role"]}
        if len(chosen) - n != 1 or len(rejected) - n != 1 or last != {"assistant"}:
            raise RowError("chosen and rejected must share every turn but their last, an assistant turn each")
        prompt_turns = checked([*chosen[:n], chosen[-1]], "prompt")[:-1]
        system = system or system_of(row, self.formatting)
        rec = record(prompt_turns, system, chosen[-1], rejected[-1], self.formatting.reasoning)
        return prompt_turns[0]["content"], rec, row

    def _hold(self, row: dict[str, Any], location: str) -> None:
        score = row["score"]
        if score is None:
            raise RowError("score is null (no judge decided)")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise RowError(f"field 'score': {type(score).__name__}, not a number")
        question, reasoning, answer = turn(row, self.formatting.fields)
        entry = (float(score), answer, reasoning or "", row)
        group = self.groups.get(key := normalize(question))
        if group is None:
            group = self.groups[key] = _Group(entry, entry)
        group.best = max(group.best, entry, key=lambda e: (e[0], e[1], e[2]))
        group.worst = min(group.worst, entry, key=lambda e: (e[0], e[1], e[2]))
        group.locations.append(location)
        group.scores.append(float(score))

    def finish(self) -> tuple[list[Made], list[tuple[str, str, dict[str, Any]]]]:
        """The score source's pairs, and (location, reason, record) of each prompt that makes none."""
        made, rejects = [], []
        for group in self.groups.values():
            (high, *best), (low, *worst) = group.best, group.worst
            row = best[2]
            question = self._prompt(row)
            why = None
            if len(group.scores) < 2:
                why = "no pair: one scored row for this prompt"
            elif best[:2] == worst[:2]:
                why = "no pair: the highest and the lowest scored answers are the same text"
            elif high - low < max(self.opts.min_margin, 1e-12):
                why = f"no pair: margin {high - low:.4g} < --min-margin {self.opts.min_margin:g}"
            if why:
                rejects.append(("; ".join(group.locations), why, {"question": question, "scores": group.scores}))
                continue
            pair = [{"role": "assistant", "content": b[0], "reasoning": b[1] or None} for b in (best, worst)]
            system = system_of(row, self.formatting)
            rec = record([{"role": "user", "content": question}], system, *pair, self.formatting.reasoning)
            made.append((question, rec, row))
        return made, rejects
