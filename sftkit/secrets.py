"""Tokens and API keys: found in a fixed order, never printed.

HF token precedence: ``HF_TOKEN`` in the environment, then ``keys.json`` (``hf_token``, or the
predecessor's ``llm``), then the huggingface_hub login cache. ``keys.json`` is found at
``--keys``/``SFTKIT_KEYS``, else ``./keys.json``, else next to the repository's README.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

import orjson

from sftkit.data.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
HF_TOKEN_KEYS = ("hf_token", "llm")


class Secret:
    """A string that shows as ``***`` in every repr, f-string and log line."""

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source}, ***)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


def keys_file(explicit: str | None = None) -> Path | None:
    for candidate in (explicit, os.environ.get("SFTKIT_KEYS"), "keys.json", REPO_ROOT / "keys.json"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if explicit:
        raise InputError(f"--keys {explicit}: no such file")
    return None


def load_keys(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        print(f"warning: {path} is readable by group or others; run: chmod 600 {path}", file=sys.stderr)
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of keys")
    return data


def hf_token(keys: str | None = None) -> Secret | None:
    if os.environ.get("HF_TOKEN"):
        return Secret(os.environ["HF_TOKEN"], "HF_TOKEN")
    path = keys_file(keys)
    data = load_keys(path)
    for name in HF_TOKEN_KEYS:
        if isinstance(data.get(name), str) and data[name]:
            return Secret(data[name], f"{path}:{name}")
    from huggingface_hub import get_token

    cached = get_token()
    return Secret(cached, "huggingface_hub login") if cached else None


def api_key(base_url: str | None = None, keys: str | None = None) -> Secret | None:
    """Key for an OpenAI-compatible endpoint: OPENAI_API_KEY, then keys.json endpoints[base_url],
    then keys.json openai_api_key."""
    if os.environ.get("OPENAI_API_KEY"):
        return Secret(os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY")
    path = keys_file(keys)
    data = load_keys(path)
    endpoints = data.get("endpoints") or {}
    if base_url and isinstance(endpoints.get(base_url), str):
        return Secret(endpoints[base_url], f"{path}:endpoints")
    if isinstance(data.get("openai_api_key"), str) and data["openai_api_key"]:
        return Secret(data["openai_api_key"], f"{path}:openai_api_key")
    return None


def redact(text: str, *secrets: Secret | None) -> str:
    """Replace every known secret value in ``text``, for anything that gets logged or written."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "***")
    return text
