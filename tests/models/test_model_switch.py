"""Switching models in one process with vLLM's engine core in a process of its own, as on a GPU (the
other tests run it in-process, VLLM_ENABLE_V1_MULTIPROCESSING=0): the first engine's process must be
gone, and its memory with it, before the second model loads, and both must answer as their weights say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from sftkit.engines.base import ChatOptions, Sampling

pytestmark = pytest.mark.models

QUESTIONS = ["What is 12 + 30?", "Compute 7 times 2.", "What is 3 + 4?"]

SWITCH = """
import json, sys
import psutil
from sftkit.engines.base import ChatOptions, Sampling
from sftkit.engines.vllm_offline import VLLMEngine
from sftkit.runner.passes import Loaded


def alive() -> dict[int, int]:
    found = {}
    for child in psutil.Process().children(recursive=True):
        try:  # multiprocessing's resource tracker is Python's, not the engine's, and stays
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                found[child.pid] = child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return found


if __name__ == "__main__":
    models, questions = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    loaded, report = Loaded(), []
    for model in models:
        def load(model=model):
            report.append({"model": model, "before_load": alive()})  # what still runs when the next one starts
            return VLLMEngine(model, ChatOptions(enable_thinking=False), dtype="fp32", max_model_len=512,
                              enforce_eager=True)
        engine = loaded.get(("engine", model), load)
        report[-1]["cores"] = alive()
        out = engine.generate([[{"role": "user", "content": q}] for q in questions], Sampling(max_tokens=30))
        report[-1]["texts"] = [c.samples[0].text for c in out]
    loaded.release()
    print(json.dumps({"runs": report, "after_release": alive()}))
"""


def test_switching_models_with_the_engine_core_in_its_own_process(
    tiny_model: Path, tiny_ensemble: list[Path], tmp_path: Path
) -> None:
    from sftkit.engines.hf import HFEngine

    models = [str(tiny_model), str(tiny_ensemble[1])]
    script = tmp_path / "switch.py"
    script.write_text(SWITCH)
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(models), json.dumps(QUESTIONS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    first, second = result["runs"]
    assert first["before_load"] == {} and len(first["cores"]) >= 1  # the engine core runs in a process of its own
    assert max(first["cores"].values()) > 200 * 2**20  # it holds the KV cache (VLLM_CPU_KVCACHE_SPACE=1 GiB)
    assert second["before_load"] == {}  # the first engine's processes, and their memory, are gone
    assert set(second["cores"]).isdisjoint(first["cores"]) and result["after_release"] == {}
    chat, greedy = ChatOptions(enable_thinking=False), Sampling(max_tokens=30)
    for run, model in zip((first, second), models):
        hf = HFEngine(model, chat, dtype="fp32").generate([[{"role": "user", "content": q}] for q in QUESTIONS], greedy)
        assert run["texts"] == [c.samples[0].text for c in hf]  # each engine answered with its own weights
    assert first["texts"] != second["texts"]
