"""Push a prepared dataset folder in one commit, sending only files that differ from the Hub.

Only the HfApi calls touch the network; each is retried with jittered exponential backoff on
429 and 5xx answers and connection errors, and fails at once, clearly, on other 4xx answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import random
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import orjson
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from sftkit.data.hashing import file_sha256
from sftkit.engines.hub import one_line
from sftkit.errors import InputError
from sftkit.export.dataset_info import DATASET_INFO
from sftkit.export.layout import DATA_DIR, SOURCE_SUFFIXES, is_scratch
from sftkit.upload.local_paths import published_json
from sftkit.upload.plots import LEGACY_HISTOGRAM, PLOTS_DIR

T = TypeVar("T")
CARD = "README.md"
RETRY_STATUS = {429, 500, 502, 503, 504}


@dataclass
class UploadPlan:
    add: list[str]  # paths relative to the folder
    delete: list[str]
    unchanged: list[str]
    bytes: int


def owned(rel: str, configs: Collection[str], sources: bool) -> bool:
    """Whether ``rel`` (a local or Hub path) is ours to upload, and to delete from the Hub once the folder no
    longer has it: the Parquet under data/<config>/ for ``configs`` (the folder's and those the Hub card lists
    as ours), the plots, LLaMA-Factory's dataset_info.json, and with --include-sources (``sources``) the
    original data files and their stats of those configs. The card (README.md) is uploaded but never deleted;
    anything else on the Hub, such as Parquet that ``push_to_hub`` wrote directly under data/ or a config we
    never published, is left alone."""
    path = PurePosixPath(rel)
    if not path.parts or is_scratch(path):
        return False
    if path.parts[0] == DATA_DIR:
        return len(path.parts) > 2 and path.parts[1] in configs and path.suffix == ".parquet"
    if path.parts[0] == PLOTS_DIR:
        return len(path.parts) == 2 and path.suffix == ".png"
    if len(path.parts) == 1:
        return rel in (LEGACY_HISTOGRAM, DATASET_INFO)
    return (
        sources
        and path.parts[0] in configs
        and not path.name.endswith(".rejects.jsonl")
        and (path.suffix in SOURCE_SUFFIXES or path.name.endswith(".stats.json"))
    )


def upload_files(root: Path, configs: Collection[str], sources: bool) -> list[str]:
    """What the Hub gets from the folder: the card, and every file that is ours (see ``owned``)."""
    files = (p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file())
    return [rel for rel in files if rel == CARD or owned(rel, configs, sources)]


def payload(root: Path, rel: str) -> bytes | Path:
    """What is sent for ``rel``: stats files without local absolute paths, any other file as it is."""
    if rel.endswith(".stats.json"):
        return orjson.dumps(published_json(root / rel, root), option=orjson.OPT_INDENT_2)
    return root / rel


def payload_size(root: Path, rel: str) -> int:
    data = payload(root, rel)
    return len(data) if isinstance(data, bytes) else data.stat().st_size


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _same(data: bytes | Path, remote: Any) -> bool:
    lfs = getattr(remote, "lfs", None)
    if lfs is not None:
        return lfs.sha256 == (hashlib.sha256(data).hexdigest() if isinstance(data, bytes) else file_sha256(data))
    return getattr(remote, "blob_id", None) == _git_blob_sha1(data if isinstance(data, bytes) else data.read_bytes())


def plan_upload(root: Path, remote: dict[str, Any], configs: Collection[str], sources: bool) -> UploadPlan:
    """What to add (new or changed) and delete (files that are ours on the Hub but no longer in the folder)."""
    local = upload_files(root, configs, sources)
    add, unchanged = [], []
    for rel in local:
        (unchanged if rel in remote and _same(payload(root, rel), remote[rel]) else add).append(rel)
    delete = sorted(p for p in remote if owned(p, configs, sources) and p not in set(local))
    return UploadPlan(add, delete, unchanged, sum(payload_size(root, p) for p in add))


def _transport_errors() -> tuple[type[BaseException], ...]:
    """What the Hub client raises when the network fails: httpx2's or httpx's transport errors (huggingface_hub
    2.x, 1.x; neither is a ConnectionError or OSError), or requests' (0.x). Local file errors are not retried."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, names in (
        ("httpx2", ("TransportError",)),
        ("httpx", ("TransportError",)),
        ("requests.exceptions", ("ConnectionError", "Timeout")),
    ):
        with contextlib.suppress(ImportError):
            errors += [getattr(importlib.import_module(module), name) for name in names]
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()


def with_retries(call: Callable[[], T], what: str, attempts: int = 5, base: float = 1.0) -> T:
    """``call()``, retried with jittered backoff on 429, 5xx and network errors; one clear line when it gives up."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status not in RETRY_STATUS or attempt == attempts:
                message = " ".join(str(exc.server_message or exc).split())
                raise InputError(f"{what} failed: HTTP {status}: {message}") from None
            reason = f"HTTP {status}"
        except TRANSPORT_ERRORS as exc:
            reason = one_line(exc)
            if attempt == attempts:
                raise InputError(
                    f"{what} failed after {attempts} attempts: cannot reach the Hub ({reason}); "
                    "check the network or HF_ENDPOINT, then run the same command again"
                ) from None
        delay = base * 2 ** (attempt - 1) * (0.5 + random.random())
        print(f"{what}: {reason}, retrying in {delay:.1f}s ({attempt}/{attempts})", file=sys.stderr)
        time.sleep(delay)
    raise AssertionError("unreachable")


def remote_files(api: HfApi, repo_id: str) -> dict[str, Any]:
    entries = with_retries(
        lambda: list(api.list_repo_tree(repo_id, repo_type="dataset", recursive=True, expand=True)),
        "listing the Hub repo",
    )
    return {e.path: e for e in entries if hasattr(e, "blob_id")}


def _fileobj(data: bytes | Path) -> bytes | str:
    return data if isinstance(data, bytes) else str(data)


def push(api: HfApi, root: Path, repo_id: str, plan: UploadPlan, message: str) -> str | None:
    """One commit with the plan's operations; None when there is nothing to send."""
    if not plan.add and not plan.delete:
        return None
    ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=_fileobj(payload(root, p))) for p in plan.add]
    ops += [CommitOperationDelete(path_in_repo=p) for p in plan.delete]
    info = with_retries(
        lambda: api.create_commit(repo_id, ops, commit_message=message, repo_type="dataset"), "committing to the Hub"
    )
    return getattr(info, "commit_url", str(info))


def hub_licenses(api: HfApi, repo_ids: list[str]) -> dict[str, str]:
    """The license each upstream dataset's Hub card states; one the Hub cannot tell (no license, a private or
    gone repo) is left out, and the card shows ``--source-license`` for it instead."""
    found = {}
    for repo_id in repo_ids:
        try:
            info = with_retries(lambda repo_id=repo_id: api.dataset_info(repo_id), f"reading {repo_id}'s card")
        except InputError as exc:
            print(f"{exc}; its license is taken from --source-license, if given", file=sys.stderr)
            continue
        license = (getattr(info, "card_data", None) or {}).get("license")
        if license:
            found[repo_id] = ", ".join(license) if isinstance(license, list) else str(license)
    return found
