"""Finished engine requests of the chunk in progress, one line each, appended as each finishes.

A chunk of a large model can run for half an hour; a stop or a kill in the middle of it used to
lose all of it. The journal lives in the shard's ``.ckpt/`` folder, and a rerun answers the requests
it holds from it, sending only the rest, so a resumed chunk gives the same bytes as an uninterrupted
one. It is emptied once its chunk is checkpointed. A last line without its newline was cut by a kill
and is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from sftkit.data.atomic import dumps_line
from sftkit.errors import InputError

JOURNAL_NAME = "requests.jsonl"
_active: list[Journal] = []


class Journal:
    """``get``/``append`` results by request key; each append reaches the file before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, Any] = {}
        self._fd: int | None = None
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        whole = data.rfind(b"\n") + 1
        for lineno, line in enumerate(data[:whole].splitlines(), 1):
            try:
                entry = orjson.loads(line)
                self._entries[entry["key"]] = entry["value"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise InputError(
                    f"{self.path}:{lineno}: not a journal entry; delete the file to redo its "
                    "requests, or pass --overwrite"
                ) from None
        if whole < len(data):
            os.truncate(self.path, whole)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Any:
        return self._entries.get(key)

    def append(self, key: str, value: Any) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(self._fd, dumps_line({"key": key, "value": value}))
        self._entries[key] = value

    def clear(self) -> None:
        """Forget everything: its requests are in a checkpointed chunk now."""
        self.close()
        self.path.unlink(missing_ok=True)
        self._entries.clear()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@contextmanager
def journaling(path: Path) -> Iterator[Journal]:
    """Make the journal at ``path`` the one engine calls save to and answer from, for this block."""
    journal = Journal(path)
    _active.append(journal)
    try:
        yield journal
    finally:
        _active.remove(journal)
        journal.close()


def active() -> Journal | None:
    """The journal of the shard being processed, or None outside a stage."""
    return _active[-1] if _active else None
