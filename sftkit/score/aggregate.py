"""The judges' judgements of one row as its output fields, and whether the row is kept.

Undecided judges are left out of the mean and of the votes, never counted as a zero: a row is kept when
at least ``min_votes`` judges gave a total of at least ``min_score``, and a row no judge decided is
never kept. The field names are read by other stages (the DPO export): keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftkit.score.parse import Judgement

EPSILON = 1e-9  # totals are rounded to 6 places: 7/10 on every dimension is 0.7, and 0.7 >= 0.7


@dataclass(frozen=True)
class Votes:
    min_score: float
    min_votes: int


def aggregate(judgements: dict[str, Judgement], votes: Votes) -> tuple[dict[str, Any], str | None]:
    """The row's score fields, and None when it is kept or why it is not."""
    totals = {j: v.total for j, v in judgements.items()}
    decided = [t for t in totals.values() if t is not None]
    passing = sum(t >= votes.min_score - EPSILON for t in decided)
    fields = {
        "scores": {j: v.scores for j, v in judgements.items()},
        "score_totals": totals,
        "score_reasons": {j: v.reason for j, v in judgements.items() if v.total is None},
        "score_decided": len(decided),
        "score_votes": passing,
        "score": round(sum(decided) / len(decided), 6) if decided else None,
    }
    if not decided:
        why = "; ".join(f"{j}: {r}" for j, r in fields["score_reasons"].items())
        return fields, f"no judge decided ({why})"
    if passing < votes.min_votes:
        return fields, (
            f"too few votes: {passing} of {len(judgements)} judges gave a total >= {votes.min_score:g} "
            f"({len(decided)} decided); --min-votes {votes.min_votes}"
        )
    return fields, None
