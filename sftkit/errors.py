"""User-facing errors and quarantined records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class InputError(Exception):
    """Bad input or arguments. The message names the file, line or field, and how to fix it."""


class Interrupted(BaseException):
    """A stop signal was received and what finished is saved: exit 75 (EX_TEMPFAIL), on which
    slurm/lib.sh requeues the task. A BaseException, so that no ``except Exception`` on the way (a
    model loader's, a library's) turns a stop into an error."""

    exit_code = 75


@dataclass
class Reject:
    """A source row that could not be used, kept with its reason so nothing is silently dropped."""

    index: int
    location: str
    reason: str
    record: Any

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "location": self.location, "reason": self.reason, "record": self.record}


BAD_RECORD_POLICIES = ("error", "skip")


def enforce_policy(rejects: list[Reject], policy: str) -> list[Reject]:
    """Raise on the first reject under ``--on-bad-record error``; otherwise hand them back for quarantine."""
    if rejects and policy == "error":
        first = rejects[0]
        more = f" (and {len(rejects) - 1} more in this batch)" if len(rejects) > 1 else ""
        raise InputError(
            f"{first.location}: {first.reason}{more}. "
            "Fix the input, or pass --on-bad-record skip to quarantine bad rows in a rejects file."
        )
    return rejects
