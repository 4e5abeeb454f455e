"""What the dedup stage computes per row: the normalized text of its text fields, the exact hash, the
MinHash signature and band hashes, and the value --keep-by ranks it by. The shard stage keeps these
arrays beside its part; the merge computes the same for a reference set (--against).

Numbers: unless --normalize-numbers, each band hash is mixed with a hash of the row's multiset of
numbers, so two rows whose numbers differ never share a bucket and are never near duplicates (for
math data a different number is a different problem), whatever their Jaccard; the merge needs no
change for it. A row without numbers keeps its plain band hashes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

from sftkit.data.batch import Batch
from sftkit.data.fields import TextField, as_text, usable_rows
from sftkit.dedup.minhash import MinHasher
from sftkit.dedup.text import exact_hash, mix, ngram_set, ngrams, normalize, number_strings, words
from sftkit.runner.stage import StageResult
from sftkit.sortkeys import key_values

FIELD_SEPARATOR = " \u241e "  # between text fields: a word of its own, so fields never run into each other


@dataclass(frozen=True)
class KeepBy:
    """--keep-by FIELD:[number|length:]asc|desc: which row of a cluster survives."""

    field: str
    key: str
    order: str

    @classmethod
    def parse(cls, text: str) -> KeepBy:
        parts = text.split(":")
        if len(parts) == 2:
            parts.insert(1, "number")
        if len(parts) != 3 or not parts[0] or parts[1] not in ("number", "length") or parts[2] not in ("asc", "desc"):
            raise ValueError(f"--keep-by {text!r}: expected FIELD:asc|desc or FIELD:number|length:asc|desc")
        return cls(*parts)

    def ranks(self, records: list[dict[str, Any]]) -> np.ndarray:
        """A key per record, smaller kept first, a missing, null or non-numeric value last: the key itself, not
        a rank within the batch, so that keys from different shards compare."""
        raw = [r.get(self.field) for r in records]
        values = key_values(raw, self.key)
        if self.key == "length":  # a null, missing, empty or blank field has no length: it loses, in either order
            values[[not isinstance(v, str) or not v.strip() for v in raw]] = np.nan
        return np.where(np.isnan(values), np.inf, -values if self.order == "desc" else values)


def number_hashes(texts: list[str]) -> np.ndarray:
    """A hash per normalized text of its multiset of numbers (``number_strings``); 0 for a text without."""
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(" ".join(ns).encode()) if (ns := number_strings(t)) else 0 for t in texts),
        dtype=np.uint64,
        count=len(texts),
    )


def number_keyed(bands: np.ndarray, texts: list[str]) -> np.ndarray:
    """Band hashes that two rows share only if their numbers are the same multiset."""
    numbers = number_hashes(texts)[:, None]
    return np.where(numbers == 0, bands, mix(bands ^ numbers))


@dataclass(frozen=True)
class RowHasher:
    fields: tuple[str, ...]
    numbers: bool
    n: int
    minhash: MinHasher
    keep_by: KeepBy | None
    id_field: str
    chars: int | None = None  # n-gram size in characters of unspaced scripts (Chinese, Japanese, Thai)

    def text(self, record: dict[str, Any]) -> str:
        return FIELD_SEPARATOR.join(normalize(as_text(record[f]), self.numbers) for f in self.fields)

    def ngram_set(self, record: dict[str, Any]) -> np.ndarray:
        return ngram_set(words(self.text(record)), self.n, self.chars)

    def arrays(self, records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        texts = [self.text(r) for r in records]
        grams = ngrams([words(t) for t in texts], self.n, self.chars)
        if records:
            sig = self.minhash.signatures(grams.hashes, grams.offsets(len(records)))
        else:
            sig = np.zeros((0, self.minhash.num_perm), dtype=np.uint32)
        out = {
            "exact": np.fromiter(map(exact_hash, texts), dtype=np.uint64, count=len(texts)),
            "id": np.fromiter((exact_hash(str(r.get(self.id_field))) for r in records), np.uint64, len(records)),
            "signature": sig,
            "bands": self.minhash.band_hashes(sig)
            if self.numbers
            else number_keyed(self.minhash.band_hashes(sig), texts),
        }
        if self.keep_by:
            out["keep_by"] = self.keep_by.ranks(records)
        return out

    def usable(self, batch: Batch) -> tuple[list[dict[str, Any]], list]:
        """The rows to hash, as read (a number in a text field is compared as its text, ``7.0`` as ``7``, and
        written back as the number it was), and the rejects."""
        fields = [TextField(f, numbers=True) for f in self.fields]
        _, records, rejects = usable_rows(batch, self.id_field, fields, as_read=True)
        return records, rejects

    def __call__(self, batch: Batch) -> StageResult:
        batch.require(dict.fromkeys(self.fields, "--text-field"))
        records, rejects = self.usable(batch)
        return StageResult(records, rejects, Counter(rows=len(batch)), arrays=self.arrays(records))
