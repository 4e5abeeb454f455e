"""The shard lock, so that two live runs never write the same shard's files."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from sftkit.errors import InputError

_HELD: dict[Path, ShardLock] = {}  # this process's locks, which a run that raised in-process left held


class ShardLock:
    """One writer per shard: an exclusive ``flock`` on ``<name>.lock``, which names its holder.

    The kernel drops the lock when the holder exits, even by SIGKILL, so a dead run never blocks
    the next one; a second live run is refused instead of racing the first over the same files.
    """

    def __init__(self, path: Path, role: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = path.resolve()
        if key in _HELD:
            _HELD.pop(key).release()
        self.fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 4096, 0).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            raise InputError(
                f"{path.with_suffix('')} is in use by {holder}; wait for it to end (or stop it) "
                "instead of starting a second run on the same --output"
            ) from None
        job = os.environ.get("SLURM_JOB_ID")
        holder = (
            f"{role} pid {os.getpid()} on host {socket.gethostname()}"
            f"{f' (Slurm job {job})' if job else ''} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        )
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, holder.encode(), 0)
        self.key = key
        _HELD[key] = self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            if _HELD.get(self.key) is self:
                del _HELD[self.key]
