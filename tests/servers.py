"""Real OpenAI-compatible servers on 127.0.0.1 for the engine tests (no hand-written fakes)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command: list[str], port: int, timeout: float = 120) -> Iterator[str]:
    """Start a server, wait until it answers HTTP at all, yield its base URL, stop it.

    Any status counts: `transformers serve` answers /v1/models with 500 offline (it scans the Hub cache).
    """
    with tempfile.TemporaryFile(mode="w+") as log:  # a pipe would fill up and stall a chatty server
        yield from _run(command, port, timeout, log)


def _run(command: list[str], port: int, timeout: float, log: IO[str]) -> Iterator[str]:
    proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited {proc.returncode}: {log.read()[-3000:]}")
            try:
                httpx.get(f"{base}/models", timeout=2)
                break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise TimeoutError(f"server on port {port} not ready after {timeout}s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def vllm_server(model: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--dtype",
        "float32",
        "--max-model-len",
        "512",
        "--enforce-eager",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@contextmanager
def scripted(entries: list[dict[str, Any]], folder: Path, rendezvous: Path | None = None) -> Iterator[tuple[str, Path]]:
    """sftkit/models/replay_server.py answering ``entries`` (see its docstring); yields its base URL and the
    JSONL log of every request it got. ``rendezvous``: also publish it there as model ``replay``, as a
    server job does, for stages given ``--server-file`` (recipes run with --local)."""
    (folder / "script.json").write_text(json.dumps(entries))
    log = folder / "requests.jsonl"
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "sftkit.models.replay_server",
        str(folder / "script.json"),
        str(port),
        str(log),
        *(["--rendezvous", str(rendezvous), "--model", "replay"] if rendezvous else []),
    ]
    with serve(command, port, timeout=30) as url:
        yield url, log
