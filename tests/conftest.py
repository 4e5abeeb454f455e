"""Shared fixtures: the bundled demo data, generated datasets, and a runner for the entry scripts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DEMO
from hypothesis import settings

settings.register_profile("sftkit", deadline=None, max_examples=200)
settings.load_profile("sftkit")


# Nothing may reach the network: the Hub code path runs against local folders.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# vLLM's CPU build, kept small and in-process: one engine per test session
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
# Slurm jobs and local workers run the python running the tests, whichever checkout or environment it is
os.environ.setdefault("SFTKIT_PYTHON", sys.executable)
# the tests run the GPU stages on CPU on purpose (CPU torch, fake Slurm GPUs): no GPU preflight
os.environ.setdefault("SFTKIT_ALLOW_CPU", "1")
# several workers of a task start at once, not seconds apart
os.environ.setdefault("SFTKIT_WORKER_STAGGER", "0")


# Test tiers (docs/install.md, "Test tiers"): a test is marked by the fixtures it uses, so no test needs editing.
TIER_FIXTURES = {
    "slurm": {"slurm"},  # submits to the real local Slurm
    "models": {"tiny_model", "tiny_ensemble", "vllm_engine"},  # trains tiny models, runs vLLM or transformers
    "slow": {"big_jsonl"},  # kills and resumes stages on 60k rows
}
# slurm/lib.sh's environment choice and the GPU and model preflight of real stage runs, each starting torch:
# the Slurm layer's tests without a cluster, out of the fast tier with the rest of that layer
TIER_MODULES = {"slurm": {"test_cluster_env.py"}}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slurm: the Slurm layer: the real local cluster, or slurm/lib.sh and "
        "preflight checks (set by fixture or module)",
    )
    config.addinivalue_line("markers", "models: builds tiny models or runs vLLM/transformers (set by fixture)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in TIER_FIXTURES.items():
            if used & fixtures or item.path.name in TIER_MODULES.get(marker, ()):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def demo_data() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60k synthetic rows: big enough that a checkpointed run can be killed mid-shard."""
    from sftkit.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("big") / "big.jsonl", 60_000, seed=7)


@pytest.fixture(scope="session")
def slurm() -> Iterator[None]:
    """A real Slurm cluster: the running one, else one started here and stopped (by pid) after."""
    import slurm_cluster

    started = False
    if not slurm_cluster.cluster_up():
        reason = slurm_cluster.why_no_slurm()
        if reason:
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the Slurm tests, but: {reason}")
            pytest.skip(f"no local Slurm: {reason}")
        slurm_cluster.start()
        started = True
    yield
    if started:
        slurm_cluster.stop()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama chat model (fp32, head_dim 32) trained briefly on arithmetic, built offline."""
    from sftkit.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_ensemble(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> list[Path]:
    """Three tiny models of different sizes and seeds, so they differ in ability (difficulty scoring)."""
    from sftkit.models.tiny import TinySpec, build_tiny_model

    folder = tmp_path_factory.mktemp("ensemble")
    return [
        tiny_model,
        build_tiny_model(folder / "small", TinySpec(hidden=64, layers=1, heads=2, seed=1)),
        build_tiny_model(folder / "deep", TinySpec(hidden=96, layers=3, heads=3, seed=2, steps=400)),
    ]


@pytest.fixture(scope="session")
def vllm_engine(tiny_model: Path):
    from sftkit.engines.base import ChatOptions
    from sftkit.engines.vllm_offline import VLLMEngine

    return VLLMEngine(
        str(tiny_model), ChatOptions(enable_thinking=False), dtype="float32", max_model_len=512, enforce_eager=True
    )
