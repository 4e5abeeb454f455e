"""Inference engines behind one interface: vLLM offline, transformers, OpenAI-compatible endpoints.

An engine is built from a settings dict (``sftkit.cli.engines.engine_settings`` makes one from flags)."""

from __future__ import annotations

from typing import Any

from sftkit import stopping
from sftkit.engines.base import ChatOptions, Engine
from sftkit.engines.hub import one_line
from sftkit.errors import InputError


def build_engine(settings: dict[str, Any], chat: ChatOptions) -> Engine:
    """The engine ``engine_settings`` describes."""
    kwargs = dict(settings)
    kind, model = kwargs.pop("engine"), kwargs.pop("model")
    if kind == "openai":
        from sftkit import secrets
        from sftkit.engines.openai_compat import OpenAIEngine

        url, server_file, served = kwargs.get("base_url"), kwargs.get("server_file"), None
        if server_file:
            from sftkit.engines.rendezvous import wait_for_server

            url, served = wait_for_server(server_file, model, kwargs["server_wait"])
        key = secrets.api_key(url, allow_http=kwargs["allow_http_key"])
        return OpenAIEngine(
            model,
            chat,
            url,
            key,
            concurrency=kwargs["concurrency"],
            timeout=kwargs.get("request_timeout", 3600.0),
            server_file=server_file,
            served_model=served,
        )
    with stopping.interruptible(f"loading {model} ({kind})"):  # a stop signal here ends the load at once
        try:
            if kind == "hf":
                from sftkit.engines.hf import HFEngine

                return HFEngine(model, chat, **kwargs)
            from sftkit.engines.vllm_offline import VLLMEngine

            return VLLMEngine(model, chat, **kwargs)
        except InputError:  # already says what and why (a model this machine cannot get)
            raise
        except Exception as exc:  # an engine that cannot start (no memory, a driver, a bad config): one line
            raise InputError(f"model {model!r} failed to load ({kind}): {one_line(exc)}") from exc
