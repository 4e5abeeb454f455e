"""Push a prepared dataset folder in one commit, sending only files that differ from the Hub.

Only the HfApi calls touch the network; each is retried with jittered exponential backoff on
429 and 5xx answers and connection errors, and fails at once, clearly, on other 4xx answers.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from sftkit.data.errors import InputError
from sftkit.upload.convert import sha256_file
from sftkit.upload.layout import DATA_DIR, MANIFEST, README_SOURCE, is_scratch

T = TypeVar("T")
RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass
class UploadPlan:
    add: list[str]  # paths relative to the folder
    delete: list[str]
    unchanged: list[str]
    bytes: int


def upload_files(root: Path) -> list[str]:
    """Everything that belongs on the Hub: originals, Parquet, card, histogram, stats."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (not path.is_file() or is_scratch(rel) or path.name.endswith(".rejects.jsonl")
                or rel.as_posix() == MANIFEST or path.name.lower() == README_SOURCE):
            continue
        out.append(rel.as_posix())
    return out


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _same(path: Path, remote: Any) -> bool:
    lfs = getattr(remote, "lfs", None)
    if lfs is not None:
        return lfs.sha256 == sha256_file(path)
    return getattr(remote, "blob_id", None) == _git_blob_sha1(path.read_bytes())


def plan_upload(root: Path, remote: dict[str, Any]) -> UploadPlan:
    """What to add (new or changed) and delete (Parquet under data/ whose source is gone)."""
    local = upload_files(root)
    add, unchanged = [], []
    for rel in local:
        (unchanged if rel in remote and _same(root / rel, remote[rel]) else add).append(rel)
    delete = sorted(p for p in remote if p.startswith(f"{DATA_DIR}/") and p not in set(local))
    return UploadPlan(add, delete, unchanged, sum((root / p).stat().st_size for p in add))


def with_retries(call: Callable[[], T], what: str, attempts: int = 5, base: float = 1.0) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status not in RETRY_STATUS or attempt == attempts:
                raise InputError(f"{what} failed: HTTP {status}: {exc.server_message or exc}") from None
            reason = f"HTTP {status}"
        except (ConnectionError, TimeoutError, OSError) as exc:
            if attempt == attempts:
                raise InputError(f"{what} failed after {attempts} attempts: {exc}") from None
            reason = type(exc).__name__
        delay = base * 2 ** (attempt - 1) * (0.5 + random.random())
        print(f"{what}: {reason}, retrying in {delay:.1f}s ({attempt}/{attempts})", file=sys.stderr)
        time.sleep(delay)
    raise AssertionError("unreachable")


def remote_files(api: HfApi, repo_id: str) -> dict[str, Any]:
    entries = with_retries(lambda: list(api.list_repo_tree(repo_id, repo_type="dataset", recursive=True,
                                                           expand=True)), "listing the Hub repo")
    return {e.path: e for e in entries if hasattr(e, "blob_id")}


def push(api: HfApi, root: Path, repo_id: str, plan: UploadPlan, message: str) -> str | None:
    """One commit with the plan's operations; None when there is nothing to send."""
    if not plan.add and not plan.delete:
        return None
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(root / p)) for p in plan.add]
    ops += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    info = with_retries(lambda: api.create_commit(repo_id, ops, commit_message=message, repo_type="dataset"),
                        "committing to the Hub")
    return getattr(info, "commit_url", str(info))
