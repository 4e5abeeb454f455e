"""Tokens and API keys: found in a fixed order, never printed.

HF token precedence: ``HF_TOKEN`` in the environment, then ``keys.json`` (``hf_token``, or the
predecessor's ``llm``), then the huggingface_hub login cache. ``keys.json`` is found at
``--keys``/``SFTKIT_KEYS``, else ``./keys.json``, else next to the repository's README.

An OpenAI-compatible endpoint gets its own key from ``keys.json`` ``endpoints``. The global key
(``OPENAI_API_KEY``, else ``openai_api_key``) is a real account's key: it goes only to its own endpoint
(``OPENAI_BASE_URL``, else ``openai_base_url``, else OpenAI's API), never to whatever ``--base-url`` says.
No key goes over plain http to a host other than this machine unless the user allows it.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from sftkit.errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
HF_TOKEN_KEYS = ("hf_token", "llm")
OPENAI_BASE_URL = "https://api.openai.com/v1"


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


def _same_url(a: str, b: str) -> bool:
    split_a, split_b = urlsplit(a.strip().rstrip("/")), urlsplit(b.strip().rstrip("/"))
    return (split_a.scheme.lower(), split_a.netloc.lower(), split_a.path) == (
        split_b.scheme.lower(),
        split_b.netloc.lower(),
        split_b.path,
    )


def _is_this_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _global_key(data: dict[str, Any], path: Path | None) -> tuple[Secret | None, str]:
    """The global key and the base URL it belongs to."""
    home = os.environ.get("OPENAI_BASE_URL") or data.get("openai_base_url") or OPENAI_BASE_URL
    if os.environ.get("OPENAI_API_KEY"):
        return Secret(os.environ["OPENAI_API_KEY"], "OPENAI_API_KEY"), home
    if isinstance(data.get("openai_api_key"), str) and data["openai_api_key"]:
        return Secret(data["openai_api_key"], f"{path}:openai_api_key"), home
    return None, home


def api_key(base_url: str, keys: str | None = None, allow_http: bool = False) -> Secret | None:
    """Key for the endpoint at ``base_url``: keys.json ``endpoints[base_url]``, else the global key when
    ``base_url`` is the one it belongs to, else none. Refuses to send one over plain http to another
    host unless ``allow_http``."""
    path = keys_file(keys)
    data = load_keys(path)
    endpoints = data.get("endpoints") or {}
    if not isinstance(endpoints, dict):
        raise InputError(f"{path}: 'endpoints' must map base URLs to keys")
    key = next(
        (
            Secret(v, f"{path}:endpoints")
            for url, v in endpoints.items()
            if isinstance(v, str) and v and _same_url(url, base_url)
        ),
        None,
    )
    if key is None:
        key, home = _global_key(data, path)
        if key is not None and not _same_url(home, base_url):
            print(
                f"note: the key from {key.source} is not sent to {base_url}: it belongs to {home}. Give this "
                'endpoint its own key in keys.json "endpoints", or set OPENAI_BASE_URL to it',
                file=sys.stderr,
            )
            key = None
    url = urlsplit(base_url)
    if key is not None and url.scheme == "http" and not _is_this_machine(url.hostname or "") and not allow_http:
        raise InputError(
            f"refusing to send the key from {key.source} to {base_url} over plain http, where "
            "anyone on the way can read it: use https, or pass --allow-http-key on a network you trust"
        )
    return key


def redact(text: str, *secrets: Secret | None) -> str:
    """Replace every known secret value in ``text``, for anything that gets logged or written."""
    for secret in secrets:
        if secret is not None and secret.reveal():
            text = text.replace(secret.reveal(), "***")
    return text
