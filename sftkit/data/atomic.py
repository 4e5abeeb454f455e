"""Atomic file writes: a killed job never leaves a half-file under the final name."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

_HOST = socket.gethostname()
_TMP = ".tmp-"
STALE_SECONDS = 3600  # a temporary of another host is left alone until it has not changed for this long


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it into place only if the block succeeds.

    The temporary lives in the same folder so the final `os.replace` is atomic on POSIX.
    A path with no folder (``selected.json``) writes into the current directory.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}{_TMP}{_HOST}-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete the temporaries of writers that died (a SIGKILL skips the cleanup above); returns how many.

    ``.<name>.tmp-<host>-<pid>`` goes when its pid is dead on this host; one of another host (a shared
    filesystem), or of the old ``.tmp-<pid>`` form that names no host, only when it has not changed
    for ``STALE_SECONDS``, since this host cannot tell whether its writer is alive.
    """
    removed = 0
    for path in Path(folder).glob(f".*{_TMP}*"):
        host, _, pid = path.name.rpartition(_TMP)[2].rpartition("-")
        if not pid.isdigit():
            continue
        try:
            stale = not _alive(int(pid)) if host == _HOST else time.time() - path.stat().st_mtime > STALE_SECONDS
            if stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # its writer renamed it into place, or another cleaner was first
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    write_bytes_atomic(path, dumps_pretty(obj))


def dumps_line(obj: Any) -> bytes:
    """One JSONL line. Non-JSON types (numpy, dates, decimals) fall back to their string form."""
    return orjson.dumps(obj, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


def dumps_pretty(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2)
