"""The vLLM engine the generation benchmarks run: a model you pass, else the tiny CPU model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / "_work"


def vllm_engine(model: str | None, dtype: str, enforce_eager: bool = True) -> tuple[Any, str]:
    """Our VLLMEngine on ``model`` (the tiny offline Llama, built once into bench/_work/, when None)."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from sftkit.engines.base import ChatOptions
    from sftkit.engines.vllm_offline import VLLMEngine

    if model is None:
        from sftkit.models.tiny import build_tiny_model

        model = str(WORK / "tiny-model")
        if not (Path(model) / "config.json").exists():
            build_tiny_model(model)
    return VLLMEngine(model, ChatOptions(), dtype=dtype, max_model_len=1024, enforce_eager=enforce_eager), model
