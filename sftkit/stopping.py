"""The process-wide stop request. SIGUSR1 (Slurm's warning before the time limit) and SIGTERM
(time limit, preemption, requeue, cancel) set it instead of killing the process, so that what
finished can be saved first: engines look at it between steps, the stage loop between batches.

Installed by every command before anything loads. Inside ``interruptible()`` (a model load, which
holds nothing to save) a stop raises ``Interrupted`` at once instead of waiting for the load.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sftkit.data.errors import Interrupted

SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
_received: list[str] = []
_immediate: list[str] = []  # what the enclosing interruptible() regions are doing


def _note(signum: int, frame: object) -> None:
    _received.append(signal.Signals(signum).name)
    if _immediate:
        raise Interrupted(f"{_received[0]} while {_immediate[-1]}; nothing to save yet, run again to resume",
                          _received[0])


def install() -> None:
    """Catch the stop signals from now on (idempotent)."""
    for sig in SIGNALS:
        signal.signal(sig, _note)


def requested() -> str | None:
    """The name of the first stop signal received, or None."""
    return _received[0] if _received else None


@contextmanager
def interruptible(doing: str) -> Iterator[None]:
    """A region with nothing to save (``doing``: e.g. "loading model X"): announced on stderr; a stop,
    received before or during it, ends it at once."""
    if _received:
        raise Interrupted(f"{_received[0]} before {doing}; nothing to save yet, run again to resume", _received[0])
    print(f"{doing}...", file=sys.stderr, flush=True)
    _immediate.append(doing)
    try:
        yield
    finally:
        _immediate.pop()
