"""The model server job's rendezvous file: how client tasks find a server started by another job.

``slurm/run_server.sh`` writes ``{url, model, model_path, job_id, restart, host, started_at}`` to a path
on the shared filesystem once its server answers ``/health``, atomically, and removes it when it stops
(``model``: the name the server lists and requests must carry, its ``--served-model-name`` if given;
``model_path``: the model it loaded, as its ``--model`` named it). A
server that could not start at all writes ``{failed, job_id, log}`` instead, so clients stop at once
rather than wait. Clients (``--server-file``) wait for the file and for ``/health`` with a bounded
backoff; a stop signal while they wait ends the wait with the requeue code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from sftkit import stopping
from sftkit.data.atomic import write_json_atomic
from sftkit.errors import InputError

MAX_DELAY = 30.0  # seconds between looks, at most


def health_url(base_url: str) -> str:
    """vLLM's ``/health`` sits beside the API, not under ``/v1``."""
    return base_url.rstrip("/").removesuffix("/v1") + "/health"


def healthy(base_url: str, timeout: float = 5.0) -> bool:
    try:
        return httpx.get(health_url(base_url), timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def read(path: str | Path) -> dict[str, Any] | None:
    """The file's content, or None while there is none (it is renamed into place whole, never half-written)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a server rendezvous file ({exc})") from None
    if not isinstance(data, dict) or not ({"url", "model"} <= data.keys() or "failed" in data):
        raise InputError(f"{path}: not a server rendezvous file (needs 'url' and 'model')")
    return data


def publish(path: str | Path, info: dict[str, Any]) -> None:
    write_json_atomic(path, info)


def remove_own(path: str | Path, job_id: str, restart: str) -> bool:
    """Remove the server's address only if this run of the job wrote it (a requeued run may already have
    its own there); a failure stays for the clients to read, until the next server run starts."""
    try:
        data = read(path)
    except InputError:
        return False
    if data is None or "url" not in data or (str(data.get("job_id")), str(data.get("restart"))) != (job_id, restart):
        return False
    Path(path).unlink(missing_ok=True)
    return True


def wait_for_server(path: str | Path, model: str, timeout: float) -> tuple[str, str]:
    """The base URL of the server that ``path`` names, once it answers ``/health``, and the model name its
    requests carry. The stage's model may be the served name or the model the server loaded (``--model``,
    when it serves it under a ``--served-model-name``). Waits with backoff (1 s doubling to 30 s) up to
    ``timeout`` seconds; a server of another model, or one that failed to start, stops the run at once
    with one line."""
    deadline = time.monotonic() + timeout
    delay, info = 1.0, None
    with stopping.interruptible(f"waiting for the model server of {path} (up to {timeout:.0f}s)"):
        while True:
            info = read(path)
            if info is not None and "failed" in info:
                raise InputError(
                    f"{path}: the server job {info.get('job_id')} could not start its server: "
                    f"{info['failed']} (log: {info.get('log', '?')})"
                )
            if info is not None:
                if model not in (info["model"], info.get("model_path")):
                    raise InputError(
                        f"{path}: the server at {info['url']} serves {info['model']!r}, but this stage "
                        f"asks for {model!r}; give the stage the served model's name"
                    )
                if healthy(info["url"]):
                    served = f" as {info['model']}" if info["model"] != model else ""
                    print(
                        f"model server {info['url']} (job {info.get('job_id')}) serves {model}{served}", file=sys.stderr
                    )
                    return str(info["url"]), str(info["model"])
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(delay, left))
            delay = min(delay * 2, MAX_DELAY)
    seen = (
        "no such file yet"
        if info is None
        else f"it names {info['url']} (job {info.get('job_id')}), which does not answer {health_url(info['url'])}"
    )
    raise InputError(
        f"{path}: no model server answered within {timeout:.0f}s ({seen}). Is the server job "
        "running (squeue), and did its log say 'server ready'? Raise the wait with --server-wait."
    )
