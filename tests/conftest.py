"""Shared fixtures (the demo data, generated datasets, tiny models, the cluster) and the tier check; shared
functions are in helpers.py."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import DEMO, cached_tiny_model, tier_error
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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tiers are folders (tests/unit, stages, models, cluster; docs/install.md "Test tiers"): a test outside one, or
    reaching a model or the cluster from a lower tier (through any fixture), fails the collection."""
    errors = []
    for item in items:
        why = tier_error(item.path, getattr(item, "fixturenames", ()), {m.name for m in item.iter_markers()})
        if why:
            errors.append(f"{item.nodeid}: {why}")
    if errors:
        raise pytest.UsageError("tests in the wrong tier:\n" + "\n".join(errors))


@pytest.fixture(scope="session")
def demo_data() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60k synthetic rows: big enough that a checkpointed run can be killed mid-shard."""
    from sftkit.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("big") / "big.jsonl", 60_000, seed=7)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, float]]]:
    """200 distinct problems, then planted copies: exact after normalization, near (J >= 0.9), far
    (J <= 0.5), and one differing only in its numbers; returns the file and id -> (source id, J)."""
    import random

    from helpers import jaccard3, random_text, swap_words

    rng = random.Random(7)
    base = [{"id": f"b{i}", "problem": random_text(rng)} for i in range(200)]
    rows, planted = list(base), {}
    for i in range(0, 30):
        rows.append({"id": f"exact{i}", "problem": "  " + base[i]["problem"].upper().replace(" ", "\t ") + " "})
        planted[f"exact{i}"] = (f"b{i}", 1.0)
    for i in range(30, 70):
        text = swap_words(rng, base[i]["problem"], 1)
        rows.append({"id": f"near{i}", "problem": text})
        planted[f"near{i}"] = (f"b{i}", jaccard3(text, base[i]["problem"]))
    for i in range(70, 110):
        text = swap_words(rng, base[i]["problem"], 12)
        rows.append({"id": f"far{i}", "problem": text})
        planted[f"far{i}"] = (f"b{i}", jaccard3(text, base[i]["problem"]))
    rows.append({"id": "num0", "problem": "Find x if 3x + 7 = 22 and x is positive, then add the digits."})
    rows.append({"id": "num1", "problem": "Find x if 5x + 9 = 44 and x is positive, then add the digits."})
    rows = rows[:200] + rng.sample(rows[200:], len(rows) - 200)  # copies after their sources, mixed
    path = tmp_path_factory.mktemp("planted") / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, planted


@pytest.fixture
def judged(tmp_path: Path) -> Path:
    """Candidate answers for the judge-only filter: 5 right, 3 wrong, 2 math-verify cannot parse."""
    rows = (
        [
            {
                "id": f"right{i}",
                "problem": f"What is {i} + 1?",
                "expected_answer": str(i + 1),
                "candidate": f"So the answer is \\boxed{{{i + 1}}}.",
            }
            for i in range(5)
        ]
        + [
            {
                "id": f"wrong{i}",
                "problem": f"What is {i} + 1?",
                "expected_answer": str(i + 1),
                "candidate": f"\\boxed{{{i + 11}}}",
            }
            for i in range(3)
        ]
        + [
            {
                "id": f"vague{i}",
                "problem": "What is 2 + 2?",
                "expected_answer": "4",
                "candidate": "It is even, I think.",
            }
            for i in range(2)
        ]
    )
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


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
def tiny_model() -> Path:
    """A tiny Llama chat model (fp32, head_dim 32) trained briefly on arithmetic, built offline (once per
    machine: helpers.cached_tiny_model). Read it only."""
    return cached_tiny_model()


@pytest.fixture(scope="session")
def tiny_ensemble(tiny_model: Path) -> list[Path]:
    """Three tiny models of different sizes and seeds, so they differ in ability (difficulty scoring)."""
    from sftkit.models.tiny import TinySpec

    return [
        tiny_model,
        cached_tiny_model(TinySpec(hidden=64, layers=1, heads=2, seed=1)),
        cached_tiny_model(TinySpec(hidden=96, layers=3, heads=3, seed=2, steps=400)),
    ]


@pytest.fixture(scope="session")
def vllm_engine(tiny_model: Path):
    from sftkit.engines.base import ChatOptions
    from sftkit.engines.vllm_offline import VLLMEngine

    return VLLMEngine(
        str(tiny_model), ChatOptions(enable_thinking=False), dtype="float32", max_model_len=512, enforce_eager=True
    )
