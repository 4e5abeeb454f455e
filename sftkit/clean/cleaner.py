"""One batch through every filter: rules, language, toxicity and PII, in that order.

A row is dropped by the first filter that fires (``dropped:NAME``) and counted under every filter that
fires (``would_drop:NAME``), so the summary says what each threshold costs alone. Dropped rows go to the
rejects file with the filter's name and value. The checked fields are joined by a blank line into one
text for the rules and the language and toxicity checks (datatrove checks a whole document the same way);
PII is found and masked per field.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sftkit.clean import language, pii, rules, toxicity
from sftkit.clean.config import RULES, CleanConfig
from sftkit.data.batch import Batch
from sftkit.errors import Reject
from sftkit.runner.stage import StageResult


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _hit(name: str, value: Any, thresholds: dict[str, float]) -> str:
    """'min_words 2 < 3': a rule with its value and the threshold it crossed; another filter with its value."""
    if name not in RULES:
        return f"{name} {_shown(value)}"
    return f"{name} {_shown(value)} {'<' if RULES[name].kind == 'min' else '>'} {_shown(thresholds[name])}"


@dataclass
class Cleaner:
    """The stage's per-batch work. ``dry_run``: count what each filter would do and write no row."""

    config: CleanConfig
    fields: tuple[str, ...]
    id_field: str
    dry_run: bool = False
    _model: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.wanted = rules.wanted_rules(self.config.thresholds)
        self.thresholds = {k: v for k, v in self.config.thresholds.items() if v is not None}
        if self.config.toxicity_model:
            self._model = toxicity.ToxicityModel(self.config.toxicity_model)

    def _texts(self, record: dict[str, Any], batch: Batch, pos: int) -> dict[str, str] | Reject:
        texts = {}
        for name in self.fields:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                return Reject(int(batch.indices[pos]), batch.location(pos), f"field {name!r} is not text", record)
            texts[name] = value or ""
        return texts

    def check(self, texts: dict[str, str], record: dict[str, Any], score: float | None) -> list[tuple[str, Any]]:
        """The filters that fire on one row, in order; adds the flags (language, PII, toxicity) to
        ``record`` and masks its PII."""
        cfg = self.config
        doc = "\n\n".join(t for t in texts.values() if t)
        out: list[tuple[str, Any]] = rules.fired(rules.measure(doc, self.wanted, cfg.gopher_mode), self.thresholds)
        if cfg.languages:
            lang, prob = language.detect(doc)
            record["language"], record["language_score"] = lang, round(prob, 4)
            if lang not in cfg.languages:
                out.append(("language", f"{lang or 'none'} ({prob:.2f})"))
            elif prob < cfg.min_language_score:
                out.append(("language_score", round(prob, 4)))
        if cfg.toxicity != "off":
            terms = toxicity.listed_terms(doc)
            record["toxic_terms"] = terms
            if score is not None:
                record["toxicity_score"] = round(score, 4)
            if cfg.toxicity == "drop" and terms:
                out.append(("toxicity", ", ".join(dict.fromkeys(terms))))
            if cfg.toxicity == "drop" and score is not None and score >= cfg.toxicity_threshold:
                out.append(("toxicity_model", round(score, 4)))
        if cfg.pii != "off":
            found: list[str] = []
            for name, text in texts.items():
                matches = pii.find(text, cfg.pii_private_ips)
                found += [m.kind for m in matches]
                if matches and cfg.pii in ("mask", "drop"):  # drop: the rejects file holds no secret either
                    record[name] = pii.mask(text, matches)
            record["pii"] = found
            if found and cfg.pii == "drop":
                out.append(("pii", ", ".join(f"{k} {n}" for k, n in Counter(found).items())))
        return out

    def __call__(self, batch: Batch) -> StageResult:
        batch.require({name: "--fields" for name in self.fields})
        records = batch.records(self.id_field)
        counts: Counter = Counter(rows=len(batch))
        rejects: list[Reject] = []
        dropped: list[Reject] = []
        kept: list[dict[str, Any]] = []
        texts = [self._texts(r, batch, pos) for pos, r in enumerate(records)]
        scores: list[float | None] = [None] * len(records)
        if self._model is not None:
            good = [k for k, t in enumerate(texts) if not isinstance(t, Reject)]
            for k, s in zip(good, self._model.scores(["\n\n".join(t for t in texts[k].values() if t) for k in good])):
                scores[k] = s
        for pos, (record, text) in enumerate(zip(records, texts)):
            if isinstance(text, Reject):
                counts["bad_row"] += 1
                rejects.append(text)
                continue
            hits = self.check(text, record, scores[pos])
            for name, _ in hits:
                counts[f"would_drop:{name}"] += 1
            counts.update(f"pii:{kind}" for kind in record.get("pii", ()))
            if hits:
                name = hits[0][0]
                counts["dropped"] += 1
                counts[f"dropped:{name}"] += 1
                shown = [_hit(n, v, self.thresholds) for n, v in hits]
                reason = f"clean: {shown[0]}" + ("; also " + ", ".join(shown[1:]) if len(hits) > 1 else "")
                dropped.append(Reject(int(batch.indices[pos]), batch.location(pos), reason, record))
            else:
                counts["kept"] += 1
                kept.append(record)
        if self.dry_run:
            return StageResult([], rejects, counts)
        return StageResult(kept, rejects, counts, quarantine=dropped)
