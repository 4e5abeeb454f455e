"""The flags that choose and configure an engine and its sampling, and what they amount to: the settings
an engine is built from, known before any model loads (a finished pass's fingerprint needs them)."""

from __future__ import annotations

import argparse
from typing import Any

from sftkit.cli import add
from sftkit.engines import build_engine
from sftkit.engines.base import ChatOptions, Engine, Sampling
from sftkit.errors import InputError


def add_engine_args(
    p: argparse.ArgumentParser,
    prefix: str = "",
    model_flags: tuple[str, ...] = (),
    many: bool = False,
    default_model: str | None = None,
) -> None:
    """Engine flags. ``prefix`` names another engine on the same command (e.g. ``judgement-``);
    ``many`` lets its model flag repeat (several judges)."""
    g = p.add_argument_group(f"{prefix or 'inference '}engine".replace("-", " "))
    dest = prefix.replace("-", "_")
    add(
        g,
        f"--{prefix}model",
        *model_flags,
        dest=f"{dest}model",
        env=not prefix,
        action="append" if many else "store",
        default=default_model,
        help="model: Hub id or local folder" + (", repeatable" if many else ""),
    )
    add(g, f"--{prefix}engine", dest=f"{dest}engine", choices=("vllm", "hf", "openai"), default="vllm")
    add(g, f"--{prefix}tp", dest=f"{dest}tp", type=int, default=1, help="vLLM tensor-parallel size")
    add(g, f"--{prefix}pp", dest=f"{dest}pp", type=int, default=1, help="vLLM pipeline-parallel size")
    add(
        g,
        f"--{prefix}dtype",
        dest=f"{dest}dtype",
        default="auto",
        help="auto (bf16 on GPU for Qwen3-style checkpoints), bf16, fp16, fp32",
    )
    add(g, f"--{prefix}max-model-len", dest=f"{dest}max_model_len", type=int)
    add(g, f"--{prefix}gpu-memory-utilization", dest=f"{dest}gpu_memory_utilization", type=float, default=0.9)
    add(
        g,
        f"--{prefix}batch-size" if prefix else "--engine-batch-size",
        dest=f"{dest}engine_batch_size",
        type=int,
        default=16,
        help="hf engine: sequences per forward pass",
    )
    add(g, f"--{prefix}base-url", dest=f"{dest}base_url", help="openai engine: e.g. http://127.0.0.1:8000/v1")
    add(
        g,
        f"--{prefix}server-file",
        dest=f"{dest}server_file",
        help="instead of --base-url: the rendezvous file of a slurm/run_server.sh job (implies the openai "
        "engine); waits for it and the server's /health",
    )
    add(
        g,
        f"--{prefix}server-wait",
        dest=f"{dest}server_wait",
        type=float,
        default=3600.0,
        help="seconds to wait for the --server-file server before giving up",
    )
    add(
        g,
        f"--{prefix}concurrency",
        dest=f"{dest}concurrency",
        type=int,
        default=16,
        help="openai engine: requests in flight",
    )
    add(
        g,
        f"--{prefix}request-timeout",
        dest=f"{dest}request_timeout",
        type=float,
        default=3600.0,
        help="openai engine: seconds one request may take (a long reasoning answer takes many minutes)",
    )
    add(
        g,
        f"--{prefix}allow-http-key",
        dest=f"{dest}allow_http_key",
        action="store_true",
        help="openai engine: send the API key over plain http to a host other than this machine",
    )
    add(
        g,
        f"--{prefix}enforce-eager",
        dest=f"{dest}enforce_eager",
        action="store_true",
        help="vLLM: no CUDA graphs (faster start; required on CPU)",
    )
    add(
        g,
        f"--{prefix}disable-flash-attention",
        dest=f"{dest}disable_flash_attention",
        action="store_true",
        help="eager attention (transformers) or the Triton backend (vLLM), where flash-attention fails",
    )


def add_sampling_args(
    p: argparse.ArgumentParser,
    max_tokens: int = 4096,
    temperature: float = 0.0,
    max_tokens_aliases: tuple[str, ...] = (),
    n_flag: bool = True,
) -> None:
    """Sampling flags; commands with their own sample count (``--samples``) pass ``n_flag=False``."""
    g = p.add_argument_group("sampling and chat")
    add(g, "--max-tokens", *max_tokens_aliases, type=int, default=max_tokens, help="new tokens per sample")
    add(g, "--temperature", type=float, default=temperature)
    add(g, "--top-p", type=float, default=1.0)
    if n_flag:
        add(g, "--n", type=int, default=1, help="samples per prompt")
    add(g, "--seed", type=int, default=0)
    add(
        g,
        "--seed-mode",
        choices=("request", "batch"),
        default="request",
        help="vLLM: 'request' seeds each request from --seed and its prompt (results independent of "
        "batching, sharding and resume); 'batch' seeds the engine once and uses vLLM's batched sampler "
        "(faster, but results depend on what shares a batch); hf always seeds per request",
    )
    add(g, "--system-prompt", help="system message prepended to every conversation")
    add(g, "--prompt-file", help="prompt template with {{placeholders}} (see docs/concepts/outputs.md)")
    think = g.add_mutually_exclusive_group()
    add(
        think,
        "--enable-thinking",
        dest="enable_thinking",
        action="store_true",
        default=None,
        help="Qwen3-style templates: let the model think (reasoning kept apart from the answer)",
    )
    add(think, "--no-thinking", dest="enable_thinking", action="store_false", help="turn thinking off")


def sampling_of(args: argparse.Namespace, n: int | None = None) -> Sampling:
    """Sampling from the flags; ``n`` for commands that count samples with a flag of their own."""
    return Sampling(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        n=args.n if n is None else n,
        seed=args.seed,
    )


def engine_kind(args: argparse.Namespace, prefix: str = "") -> str:
    """The engine these flags choose: a server file means a server, reached over HTTP."""
    dest = prefix.replace("-", "_")
    return "openai" if getattr(args, f"{dest}server_file", None) else getattr(args, f"{dest}engine")


def engine_gpus(args: argparse.Namespace, prefix: str = "") -> int:
    """GPUs the engine these flags describe uses on this machine: tp x pp for vLLM, one for transformers
    (which places a model on one device), none for a server reached over HTTP."""
    dest = prefix.replace("-", "_")
    kind = engine_kind(args, prefix)
    if kind == "openai":
        return 0
    if kind == "hf":
        return 1
    return getattr(args, f"{dest}tp") * getattr(args, f"{dest}pp")


def engine_settings(args: argparse.Namespace, prefix: str = "", seed: int = 0) -> dict[str, Any]:
    """What the engine these flags describe is made of, known before it loads: a finished pass's
    fingerprint and a row's provenance need it without loading the model."""
    dest = prefix.replace("-", "_")
    get = lambda name: getattr(args, f"{dest}{name}")  # noqa: E731 - a local accessor
    model, kind = get("model"), engine_kind(args, prefix)
    if not model:
        raise InputError(
            f"--{prefix}model is required: a Hub id or a local folder, e.g. --{prefix}model Qwen/Qwen3-32B"
        )
    if kind == "hf":
        return {
            "engine": kind,
            "model": model,
            "batch_size": get("engine_batch_size"),
            "dtype": get("dtype"),
            "disable_flash_attention": get("disable_flash_attention"),
            "max_model_len": get("max_model_len"),
        }
    if kind == "openai":
        if get("base_url") and get("server_file"):
            raise InputError(f"give --{prefix}base-url or --{prefix}server-file, not both")
        if not (get("base_url") or get("server_file")):
            raise InputError(f"--{prefix}engine openai needs --{prefix}base-url or --{prefix}server-file")
        where = (
            {"base_url": get("base_url")}
            if get("base_url")
            else {"server_file": get("server_file"), "server_wait": get("server_wait")}
        )
        return {
            "engine": kind,
            "model": model,
            **where,
            "concurrency": get("concurrency"),
            "request_timeout": get("request_timeout"),
            "allow_http_key": get("allow_http_key"),
        }
    return {
        "engine": kind,
        "model": model,
        "tp": get("tp"),
        "pp": get("pp"),
        "dtype": get("dtype"),
        "max_model_len": get("max_model_len"),
        "gpu_memory_utilization": get("gpu_memory_utilization"),
        "seed": seed,
        "seed_mode": getattr(args, "seed_mode", "request"),
        "enforce_eager": get("enforce_eager"),
        "disable_flash_attention": get("disable_flash_attention"),
    }


def make_engine(args: argparse.Namespace, chat: ChatOptions, prefix: str = "", seed: int = 0) -> Engine:
    return build_engine(engine_settings(args, prefix, seed), chat)
