"""Where a stage's rows come from, as its input flags name it: read by the source dispatch and each source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputSpec:
    """Where the rows come from. ``config``/``split``/``streaming`` apply to Hub datasets only."""

    input: str
    config: str | None = None
    split: str = "train"
    format: str = "auto"
    streaming: bool = False
    max_rows: int | None = None  # the predecessor's --max_samples: only the first N rows
