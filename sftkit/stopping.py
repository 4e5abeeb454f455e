"""The process-wide stop request: SIGUSR1 (Slurm's warning before the time limit) and SIGTERM
(time limit, preemption, requeue, cancel), caught from the start of every command.

Where work can save itself (a stage's batch loop, with its engines streaming finished requests to
the journal), a stop only sets the request: engines look at it between steps, the loop between
batches. Everywhere else (starting up, loading a model, a command with nothing to checkpoint) it
raises ``Interrupted`` at once, so the process exits with the requeue code instead of carrying on
or dying.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sftkit.errors import Interrupted

SIGNALS = (signal.SIGUSR1, signal.SIGTERM)
_received: list[str] = []
_doing: list[str | None] = []  # innermost last: what a stop interrupts at once, or None: it is only noted


def _note(signum: int, frame: object) -> None:
    name = signal.Signals(signum).name
    _received.append(name)
    doing = _doing[-1] if _doing else "running"
    # only the first: at the time limit Slurm's TERM and the batch script's forwarded one come together,
    # and a second raise would land in the exit path of the first
    if doing is not None and len(_received) == 1:
        raise Interrupted(f"{name} while {doing}; run again to resume")


def install() -> None:
    """Catch the stop signals from now on (idempotent)."""
    for sig in SIGNALS:
        signal.signal(sig, _note)


def request(reason: str) -> None:
    """Stop as a signal would, for a reason found inside the work (a model server that went away):
    what finished is saved, and the command exits with the requeue code."""
    _received.append(reason)


def requested() -> str | None:
    """The name of the first stop signal received, or None."""
    return _received[0] if _received else None


@contextmanager
def _mode(doing: str | None) -> Iterator[None]:
    _doing.append(doing)
    try:
        yield
    finally:
        _doing.pop()


@contextmanager
def deferred() -> Iterator[None]:
    """A region that saves what it did and stops by itself once ``requested()``: a stop only sets it."""
    with _mode(None):
        yield


@contextmanager
def interruptible(doing: str) -> Iterator[None]:
    """A region with nothing to save (``doing``, e.g. "loading MODEL (vllm)"), announced on stderr: a
    stop, received before or during it, ends it at once, even inside a ``deferred`` one."""
    if _received:
        raise Interrupted(f"{_received[0]} before {doing}; run again to resume")
    print(f"{doing}...", file=sys.stderr, flush=True)
    with _mode(doing):
        yield
