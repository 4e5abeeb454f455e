"""A stop signal mid-chunk or during a model load: what finished is kept, the exit code asks for a requeue."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import REPO, run_script
from servers import scripted

from sftkit.data.journal import JOURNAL_NAME, Journal

GENERATE = "hpc/generate.py"
SEEDS = 12
DELAY = 0.6  # seconds per request: the whole chunk takes SEEDS * DELAY / 2 (two at once)


def slow_script(seeds: int = SEEDS, delay: float = DELAY) -> list[dict]:
    """A scripted model that answers seed i with a new problem after ``delay`` seconds."""
    return [
        {
            "match": [f"What is {i} + {i + 3}?"],
            "delay": delay,
            "choices": [
                {"content": f"<question>What is {i} + {i + 4}?</question><answer>{2 * i + 4}</answer>"},
                {"content": f"<question>What is {i} + {i + 5}?</question><answer>{2 * i + 5}</answer>"},
            ],
        }
        for i in range(seeds)
    ]


def write_seeds(path: Path, seeds: int = SEEDS) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"s{i}", "problem": f"What is {i} + {i + 3}?", "expected_answer": str(2 * i + 3)}) + "\n"
            for i in range(seeds)
        )
    )
    return path


def generate_args(seeds: Path, url: str, out: Path) -> list[str]:
    """One chunk spanning the whole input, two requests in flight."""
    return [
        "--input",
        str(seeds),
        "--engine",
        "openai",
        "--base-url",
        url,
        "--model",
        "scripted",
        "--concurrency",
        "2",
        "--n",
        "2",
        "--temperature",
        "0.7",
        "--save-per-iteration",
        "100",
        "--output",
        str(out),
    ]


def log_lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_usr1_mid_chunk_keeps_finished_requests_and_the_rerun_sends_only_the_rest(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    out, reference = tmp_path / "gen.jsonl", tmp_path / "reference.jsonl"
    journal = Path(f"{out}.parts") / "part-00000-of-00001.ckpt" / JOURNAL_NAME
    with scripted(slow_script(), tmp_path) as (url, log):
        worker = subprocess.Popen(
            [sys.executable, str(REPO / GENERATE), *generate_args(seeds, url, out)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 3) and worker.poll() is None:
            time.sleep(0.02)
        worker.send_signal(signal.SIGUSR1)
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 75, err
        kept = len(Journal(journal))  # fewer than all: it did not wait for the chunk to end
        assert 3 <= kept < SEEDS and f"{kept} finished requests beyond it after SIGUSR1" in err
        assert not out.exists() and not list(journal.parent.glob("chunk-*.json"))  # the chunk never finished
        time.sleep(DELAY + 0.5)  # the server logs a request cancelled mid-delay once its delay is over
        first_run = len(log_lines(log))

        resumed = run_script(GENERATE, *generate_args(seeds, url, out))
        second_run = log_lines(log)[first_run:]
        assert f"{kept} finished requests of the chunk at row 0 are saved" in resumed.stderr
        assert len(second_run) == SEEDS - kept  # journaled requests are never sent again
        assert not journal.parent.exists()  # the shard completed: checkpoints and journal are gone
        run_script(GENERATE, *generate_args(seeds, url, reference))
    assert out.read_bytes() == reference.read_bytes()
    assert len(out.read_text().splitlines()) == 2 * SEEDS


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
    assert re.search(rf"stopped: SIGUSR1 while (loading {re.escape(str(model))} \(hf\)|running); run again", err), err
    assert not (tmp_path / "gen.jsonl").exists()


def test_a_journal_line_cut_by_a_kill_is_dropped_and_appends_go_on_after_it(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(b'{"key":"a#0","value":1}\n{"key":"b#0","val')
    journal = Journal(path)
    assert (len(journal), journal.get("a#0"), journal.get("b#0")) == (1, 1, None)
    journal.append("c#0", {"x": 2})
    journal.close()
    assert Journal(path).get("c#0") == {"x": 2} and path.read_bytes().count(b"\n") == 2


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
