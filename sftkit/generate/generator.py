"""The generate stage's step: a template over each row, the model's completions, parsed into items.

Per batch of rows: one engine call for every prompt (vLLM batches them continuously), then each sample is
parsed by ``--parse`` into one item or many (fan-out), and each item is checked (``parse.check_item``,
a copy of the input, keywords, length, ``--keep-if``, novelty) and kept as a row or quarantined with its
reason. A row whose template field is absent or empty is bad input (``--on-bad-record``).

Lineage: every row has ``id`` (``<parent>-gen<sample>``, and ``-<item>`` when the mode fans out),
``parent_id`` and ``lineage`` (parent id, sample and item index, the prompt's hash and the system prompt's,
the same as ``generation`` names, and the parent's own lineage when it had one, so a row of round 3 leads
back to its seed). A row made from a slice of a long document also names ``doc_id`` and ``slice_index``;
its parent id is ``<doc>-s<slice>``.
"""

from __future__ import annotations

import difflib
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, number_text, usable_rows
from sftkit.engines.base import Engine, Sample, Sampling
from sftkit.errors import Reject
from sftkit.generate.chunking import Chunker
from sftkit.generate.novelty import Novelty, word_count
from sftkit.generate.parse import REFUSAL, ParseSpec, check_item, raw_items, refuses
from sftkit.prompts import ABSENT, fill, lookup, placeholders, sha256
from sftkit.runner.stage import StageResult

LENGTH_CUT = "cut at the token limit (finish_reason=length)"
NEVER_CLOSED = "reasoning never closed"
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def copies(text: str, source: str) -> bool:
    """Same text, or a light rewording with the very same numbers (new numbers make a new problem)."""
    a, b = _normal(text), _normal(source)
    if a == b:
        return True
    return sorted(_NUMBER.findall(a)) == sorted(_NUMBER.findall(b)) and (
        difflib.SequenceMatcher(None, a, b).ratio() >= 0.9
    )


def main_text(item: dict[str, Any], spec: ParseSpec) -> str | None:
    """The text an item is judged by: its first parsed field (or its first text value)."""
    main = item.get(spec.main) if spec.main else next((v for v in item.values() if isinstance(v, str)), None)
    return main if isinstance(main, str) else None


@dataclass(frozen=True)
class ItemRules:
    """Checks an item passes after parsing. ``copy_of``: row field (dotted: nested) -> what a copy of it is called;
    ``keywords``: words the main field must not contain (Self-Instruct's "image", "graph", ...);
    ``min_words``/``max_words``: its length in words (a CJK character counts as one); ``keep_if``:
    field -> accepted values (case and surrounding space ignored), e.g. an elimination verdict."""

    copy_of: dict[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    min_words: int | None = None
    max_words: int | None = None
    keep_if: dict[str, frozenset[str]] = field(default_factory=dict)

    def problem(
        self,
        item: dict[str, Any],
        spec: ParseSpec,
        values: dict[str, Any],
        keywords: re.Pattern[str] | None = None,
    ) -> str | None:
        """Why the item breaks a rule (a copy, a keyword, its length, a verdict), or None."""
        main = main_text(item, spec)
        if main is not None:
            for name, label in self.copy_of.items():
                source = lookup(values, name)
                if isinstance(source, str) and copies(main, source):
                    return f"copies its {label}"
            if keywords and keywords.search(main):
                return "contains a rejected keyword"
            words = word_count(main) if self.min_words or self.max_words else 0
            if self.min_words and words < self.min_words:
                return f"shorter than {self.min_words} words"
            if self.max_words and words > self.max_words:
                return f"longer than {self.max_words} words"
        for name, accepted in self.keep_if.items():
            if str(item.get(name, "")).strip().casefold() not in accepted:
                return f"{name} is not {' or '.join(sorted(accepted))}"
        return None

    def keyword_pattern(self) -> re.Pattern[str] | None:
        if not self.keywords:
            return None
        return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, self.keywords)) + r")(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Counting:
    """The counters' names: the seed preset keeps the names its summaries always had."""

    rows: str = "rows"
    unusable: str = "rows unusable (bad input)"
    refused: str = "prompts refused (never sent)"
    parent_key: str = "parent_id"  # the parent's id in a reject's record


@dataclass(frozen=True)
class FewShot:
    """Examples for the prompt, drawn per row from a pool (Self-Instruct's in-context tasks): ``k`` of
    them, chosen by a generator seeded from ``seed`` and the row's id (the same whatever the sharding or
    resume), as a numbered list in the row's field ``field``."""

    pool: tuple[str, ...]
    k: int
    field: str = "examples"
    seed: int = 0

    def text(self, row_id: str) -> str:
        rng = random.Random(f"{self.seed}\0{row_id}")
        picked = rng.sample(self.pool, min(self.k, len(self.pool)))
        return "\n".join(f"{n}. {example}" for n, example in enumerate(picked, 1))


@dataclass
class Generator:
    """The generate stage's ``process``: see the module docstring. ``aliases`` maps a placeholder to
    the row field it stands for (the seed preset's ``{{question}}``); ``fields`` must hold usable
    text in every row; ``carry`` copies row fields (dotted: nested) into each output row under new names."""

    engine: Engine
    sampling: Sampling
    template: str
    spec: ParseSpec
    id_field: str
    provenance: dict[str, Any]
    system_template: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    fields: list[TextField] = field(default_factory=list)
    carry: dict[str, str] = field(default_factory=dict)
    rules: ItemRules = field(default_factory=ItemRules)
    counting: Counting = field(default_factory=Counting)
    chunker: Chunker | None = None
    chunk_field: str | None = None
    novelty: Novelty | None = None
    few_shot: FewShot | None = None
    keep_input: bool = False

    def __post_init__(self) -> None:
        # the hashes the row's ``generation`` names too, so lineage and provenance agree on the prompt
        self.prompt_hashes = {"prompt_sha256": sha256(self.template)}
        if self.system_template is not None:
            self.prompt_hashes["system_prompt_sha256"] = sha256(self.system_template)
        self.names = sorted(placeholders(self.template) | placeholders(self.system_template or ""))
        self.keywords = self.rules.keyword_pattern()

    def resume(self, records: Iterable[dict[str, Any]]) -> None:
        """A resumed shard's earlier kept rows rejoin the novelty index, as in an unbroken run."""
        if self.novelty is not None and self.spec.main:
            for record in records:
                if isinstance(text := record.get(self.spec.main), str):
                    self.novelty.add(text)

    def _values(self, row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """The template's values for a row, or why the row cannot fill it."""
        values = {**row, **{alias: row[name] for alias, name in self.aliases.items() if name in row}}
        if self.few_shot is not None:
            values[self.few_shot.field] = self.few_shot.text(str(row[self.id_field]))
        for name in self.names:
            value = lookup(values, name)
            if value is ABSENT:
                return None, f"field {name!r} is missing (the row has: {', '.join(map(str, list(row)[:12]))})"
            if value is None or (isinstance(value, str) and not value.strip()):
                return None, f"field {name!r} is {'null' if value is None else 'empty'}"
            if isinstance(value, float | int) and not isinstance(value, bool):
                values[name] = number_text(value)
        return values, None

    def _units(self, row: dict[str, Any], row_id: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(parent id, row, document fields) per prompt: the row itself, or one per slice of a long field."""
        if self.chunker is None or self.chunk_field is None:
            return [(row_id, row, {})]
        return [
            (f"{row_id}-s{j}", {**row, self.chunk_field: piece}, {"doc_id": row_id, "slice_index": j})
            for j, piece in enumerate(self.chunker.slices(row[self.chunk_field]))
        ]

    def _item_problem(self, item: dict[str, Any], values: dict[str, Any]) -> str | None:
        """Why a parsed, clean item is not kept (``ItemRules``, then novelty), or None; a kept item joins
        the novelty index, so later items are compared with it."""
        why = self.rules.problem(item, self.spec, values, self.keywords)
        main = main_text(item, self.spec)
        if why or self.novelty is None or main is None:
            return why
        why = self.novelty.similar(main)
        if why is None:
            self.novelty.add(main)
        return why

    @staticmethod
    def sample_problem(sample: Sample) -> str | None:
        """Why a whole sample is rejected before parsing (cut, unclosed reasoning, empty, a refusal), or None."""
        if sample.finish_reason == "length":
            return LENGTH_CUT
        if sample.truncated:
            return NEVER_CLOSED
        if not sample.answer.strip():
            return "empty generation"
        return REFUSAL if refuses(sample.answer) else None

    def __call__(self, batch: Batch) -> StageResult:
        c = self.counting
        positions, rows, rejects = usable_rows(batch, self.id_field, self.fields)
        units: list[tuple[int, str, dict[str, Any], dict[str, Any], dict[str, Any]]] = []
        pool: list[tuple[int, dict[str, Any]]] = []  # --keep-input: (the unit it goes before, the row as read)
        for pos, row in zip(positions, rows, strict=True):
            values, why = self._values(row)
            if why:
                rejects.append(Reject(int(batch.indices[pos]), batch.location(pos), why, row))
                continue
            if self.keep_input:
                pool.append((len(units), batch.records(self.id_field)[pos]))
            for parent_id, unit, doc in self._units(row, str(row[self.id_field])):
                units.append((pos, parent_id, unit, doc, values if not doc else self._values(unit)[0]))
        conversations = []
        for _, _, _, _, values in units:
            user = [{"role": "user", "content": fill(self.template, values, "generation prompt")}]
            if self.system_template:
                user.insert(0, {"role": "system", "content": fill(self.system_template, values, "system prompt")})
            conversations.append(user)
        completions = self.engine.generate(conversations, self.sampling) if conversations else []
        records, quarantine, counts = [], [], Counter({c.rows: len(batch)})
        if rejects:
            counts[c.unusable] += len(rejects)
        for u, ((pos, parent_id, unit, doc, values), completion) in enumerate(zip(units, completions, strict=True)):
            while pool and pool[0][0] == u:
                records.append(self._kept_input(pool.pop(0)[1], counts))
            index, location = int(batch.indices[pos]), batch.location(pos)
            for warning in completion.warnings:
                counts[f"engine warning: {warning}"] += 1
            if completion.refused:
                counts[c.refused] += 1
                quarantine.append(
                    Reject(index, location, completion.refused, {c.parent_key: parent_id, "sample": None, "text": None})
                )
                continue
            for k, sample in enumerate(completion.samples):
                counts["generated"] += 1
                why = self.sample_problem(sample)
                items, whole = ([], why) if why else raw_items(sample.answer, self.spec)
                if whole:
                    counts[f"rejected: {whole}"] += 1
                    where = {c.parent_key: parent_id, "sample": k, "text": sample.text}
                    quarantine.append(Reject(index, location, whole, where))
                    continue
                for i, (item, why) in enumerate(items):
                    if self.spec.fans_out:
                        counts["items"] += 1
                    if item is not None:
                        item, why = check_item(item, self.spec)
                    if item is not None:
                        why = self._item_problem(item, values)
                    if why:
                        counts[f"rejected: {why}"] += 1
                        where = {c.parent_key: parent_id, "sample": k, **({"item": i} if self.spec.fans_out else {})}
                        quarantine.append(Reject(index, location, why, {**where, "text": sample.text}))
                        continue
                    counts["kept"] += 1
                    records.append(self._row(unit, parent_id, doc, k, i, item, sample))
        records += [self._kept_input(row, counts) for _, row in pool]
        return StageResult(records, rejects, counts, quarantine)

    def _kept_input(self, row: dict[str, Any], counts: Counter) -> dict[str, Any]:
        """An input row written unchanged (--keep-input): part of the pool, so later items are compared with it."""
        counts["input rows kept"] += 1
        main = row.get(self.spec.main) if self.spec.main else None
        if self.novelty is not None and isinstance(main, str):
            self.novelty.add(main)
        return row

    def _row(
        self, unit: dict[str, Any], parent_id: str, doc: dict[str, Any], k: int, i: int, item: dict, sample: Sample
    ) -> dict[str, Any]:
        lineage = {"parent_id": parent_id, "sample": k, "item": i, **self.prompt_hashes, **doc}
        if isinstance(unit.get("lineage"), dict):
            lineage["parent"] = unit["lineage"]
        return {
            "id": f"{parent_id}-gen{k}" + (f"-{i}" if self.spec.fans_out else ""),
            **{new: value for old, new in self.carry.items() if (value := lookup(unit, old)) is not ABSENT},
            **item,
            "reasoning": sample.reasoning,
            "generation": {**self.provenance, "sample": k, "finish_reason": sample.finish_reason},
            "parent_id": parent_id,
            **doc,
            "lineage": lineage,
        }
