"""A stop signal while a model loads or between vLLM steps: exit with the requeue code, resume from the journal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import GENERATE, REPO, write_seeds

from sftkit.data.journal import JOURNAL_NAME

pytestmark = pytest.mark.models


def test_usr1_then_term_while_the_model_loads_exit_with_the_requeue_code(tmp_path: Path) -> None:
    from sftkit.models.tiny import TinySpec, build_tiny_model

    model = build_tiny_model(tmp_path / "untrained", TinySpec(steps=0))
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    worker = subprocess.Popen(
        [
            sys.executable,
            str(REPO / GENERATE),
            "--input",
            str(seeds),
            "--engine",
            "hf",
            "--model",
            str(model),
            "--output",
            str(tmp_path / "gen.jsonl"),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in worker.stderr:
        lines.append(line)
        if line.startswith(f"loading {model} (hf)"):
            worker.send_signal(signal.SIGUSR1)
            worker.send_signal(signal.SIGTERM)  # a second stop (Slurm's and the forwarded TERM) changes nothing
            break
    err = "".join(lines) + worker.stderr.read()
    assert worker.wait(timeout=60) == 75, err
    # the load of a tiny model may end before the signal lands: then it stops just after, as promptly
    # the stop may land during the load, or just after it (a tiny model loads in milliseconds): both requeue
    assert re.search(
        rf"stopped: (SIGUSR1 while (loading {re.escape(str(model))} \(hf\)|running)|"
        rf"part-00000-of-00001 saved up to row 0 after SIGUSR1); run again",
        err,
    ), err
    assert not (tmp_path / "gen.jsonl").exists()


def test_vllm_stops_between_steps_aborts_the_rest_and_resumes_from_the_journal(
    vllm_engine, tmp_path: Path, monkeypatch
) -> None:
    """A stop noticed after the first finished request: the engine aborts the others (none is left in
    it for the next call), and a rerun over the journal gives what one uninterrupted call gives."""
    from sftkit import stopping
    from sftkit.data.journal import journaling
    from sftkit.engines.base import Sampling
    from sftkit.errors import Interrupted

    conversations = [[{"role": "user", "content": f"What is {i} + {2 * i}?"}] for i in range(12)]
    sampling = Sampling(max_tokens=48, temperature=0.8, n=2, seed=7)
    whole = vllm_engine.generate(conversations, sampling)
    received: list[str] = []
    monkeypatch.setattr(stopping, "_received", received)
    with journaling(tmp_path / JOURNAL_NAME) as journal:
        append = journal.append
        monkeypatch.setattr(journal, "append", lambda key, value: (append(key, value), received.append("SIGUSR1")))
        try:
            vllm_engine.generate(conversations, sampling)
            raise AssertionError("not stopped")
        except Interrupted as stop:
            assert "requests of the call finished and saved before SIGUSR1" in str(stop)
        saved = len(journal)
    assert 1 <= saved < len(conversations)
    assert vllm_engine.llm.llm_engine.get_num_unfinished_requests() == 0
    received.clear()
    with journaling(tmp_path / JOURNAL_NAME) as journal:
        assert vllm_engine.generate(conversations, sampling) == whole and len(journal) == len(conversations)
