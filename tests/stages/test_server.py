"""Clients of a model server: the rendezvous file, --server-file, a server gone mid-run, seeds per request
(scripted servers; the real server jobs are in tests/cluster/test_server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    GENERATE,
    REALISTIC,
    REPO,
    SEEDS,
    client_args,
    log_lines,
    read_jsonl,
    realistic_script,
    remote,
    run_command,
    slow_script,
    write_jsonl,
    write_seeds,
)
from servers import scripted

from sftkit.data.journal import JOURNAL_NAME, Journal
from sftkit.engines.base import ChatOptions, Sampling
from sftkit.engines.openai_compat import OpenAIEngine

pytestmark = pytest.mark.stages

FILTER = "hpc/filter.py"


def rendezvous(path: Path, url: str, model: str = "scripted", **more: str) -> None:
    path.write_text(json.dumps({"url": url, "model": model, "job_id": "7", "restart": "0", **more}))


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / GENERATE), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_client_waits_for_the_server_file_then_runs_on_that_server(tmp_path: Path) -> None:
    seeds, file = write_seeds(tmp_path / "seeds.jsonl"), tmp_path / ".gen.server.json"
    with scripted(slow_script(delay=0), tmp_path) as (url, log):
        client = start(*client_args(seeds, tmp_path / "gen.jsonl", "--server-file", str(file)))
        time.sleep(3)
        assert client.poll() is None and not log_lines(log)  # still waiting: nothing sent anywhere
        rendezvous(file, url)
        _, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        run_command(GENERATE, *client_args(seeds, tmp_path / "ref.jsonl", "--engine", "openai", "--base-url", url))
    assert f"waiting for the model server of {file}" in err and f"model server {url} (job 7) serves scripted" in err
    # the same records as a run given the URL itself: the server file only says where the server is
    assert (tmp_path / "gen.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def test_a_stage_naming_the_model_a_server_loaded_sends_its_served_name(tmp_path: Path) -> None:
    """A server started with --served-model-name: submit.sh --server gives the stage the model it loads, the
    file names both, and requests carry the served name (vLLM answers 404 to any other)."""
    seeds, file = write_seeds(tmp_path / "seeds.jsonl"), tmp_path / ".gen.server.json"
    args = client_args(seeds, tmp_path / "gen.jsonl", "--server-file", str(file))
    args[args.index("scripted")] = "/models/big"
    with scripted(slow_script(delay=0), tmp_path) as (url, log):
        rendezvous(file, url, model_path="/models/big")
        proc = run_command(GENERATE, *args)
    assert f"model server {url} (job 7) serves /models/big as scripted" in proc.stderr
    assert {r["request"]["model"] for r in log_lines(log)} == {"scripted"} and len(log_lines(log)) == SEEDS
    assert {json.loads(line)["generation"]["model"] for line in (tmp_path / "gen.jsonl").open()} == {"/models/big"}


@pytest.mark.parametrize(
    ("content", "wait", "message"),
    [
        (None, "2", "no model server answered within 2s (no such file yet)"),
        (
            {"url": "http://127.0.0.1:9/v1", "model": "scripted"},
            "2",
            "it names http://127.0.0.1:9/v1 (job 7), which does not answer http://127.0.0.1:9/health",
        ),
        (
            {"failed": "vllm serve exited 1 before it answered /health", "log": "logs/s.out"},
            "3600",
            "the server job 7 could not start its server: vllm serve exited 1 before it answered /health "
            "(log: logs/s.out)",
        ),
        (
            {"url": "http://127.0.0.1:9/v1", "model": "Qwen/Qwen3-8B"},
            "3600",
            "serves 'Qwen/Qwen3-8B', but this stage asks for 'scripted'",
        ),
    ],
)
def test_waiting_for_a_server_is_bounded_and_ends_in_one_line(
    tmp_path: Path, content: dict | None, wait: str, message: str
) -> None:
    file = tmp_path / ".server.json"
    if content is not None:
        file.write_text(json.dumps({"job_id": "7", **content}))
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    began = time.monotonic()
    proc = run_command(
        GENERATE,
        *client_args(seeds, tmp_path / "gen.jsonl", "--server-file", str(file), "--server-wait", wait),
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - began < 60


def test_base_url_and_server_file_together_are_refused(tmp_path: Path) -> None:
    proc = run_command(
        GENERATE,
        *client_args(
            write_seeds(tmp_path / "s.jsonl"),
            tmp_path / "g.jsonl",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--server-file",
            "x.json",
        ),
        check=False,
    )
    assert proc.returncode == 2 and "give --base-url or --server-file, not both" in proc.stderr


def test_a_server_gone_mid_run_saves_exits_75_and_the_rerun_on_its_successor_sends_only_the_rest(
    tmp_path: Path,
) -> None:
    """The server job removes its file as its server dies: the client stops retrying at once, keeps what
    finished, exits with the requeue code; the requeued client finds the next server and sends the rest."""
    seeds, file, out = write_seeds(tmp_path / "seeds.jsonl"), tmp_path / ".gen.server.json", tmp_path / "gen.jsonl"
    journal = Path(f"{out}.parts") / "part-00000-of-00001.ckpt" / JOURNAL_NAME
    (tmp_path / "one").mkdir(), (tmp_path / "two").mkdir()
    with scripted(slow_script(), tmp_path / "one") as (url, _):
        rendezvous(file, url)
        client = start(*client_args(seeds, out, "--server-file", str(file)))
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 3) and client.poll() is None:
            time.sleep(0.02)
        file.unlink()  # what run_server.sh does when its server dies, before the server is gone
    began = time.monotonic()
    _, err = client.communicate(timeout=60)
    kept = len(Journal(journal))
    assert client.returncode == 75, err
    assert time.monotonic() - began < 15  # no minute of retries against a server known to be gone
    assert f"{kept} finished requests beyond it after the model server {url} stopped answering" in err
    with scripted(slow_script(), tmp_path / "two") as (successor, log):
        rendezvous(file, successor)
        resumed = run_command(GENERATE, *client_args(seeds, out, "--server-file", str(file)))
        sent = len(log_lines(log))
        run_command(
            GENERATE, *client_args(seeds, tmp_path / "ref.jsonl", "--engine", "openai", "--base-url", successor)
        )
    assert f"{kept} finished requests of the chunk at row 0 are saved" in resumed.stderr
    assert sent == SEEDS - kept  # nothing that finished was sent again
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def served_engine(url: str, file: Path, **more: float) -> OpenAIEngine:
    """A client of the server ``file`` names, as --server-file builds it, with fewer retries (a quick test)."""
    rendezvous(file, url)
    return OpenAIEngine("scripted", ChatOptions(), url, retries=2, server_file=str(file), **more)


@pytest.mark.parametrize(
    ("entry", "timeout", "message"),
    [
        (
            {"status": 500, "error": "internal error for this prompt"},
            3600.0,
            'HTTP 500 after 2 attempts: {"error": {"message": "internal error for this prompt"',
        ),
        ({"delay": 3, "choices": [{"content": "late"}]}, 1.0, "ReadTimeout after 2 attempts (each request may take 1s"),
    ],
)
def test_a_request_failing_on_a_healthy_server_fails_as_with_base_url_not_as_a_server_gone(
    tmp_path: Path, entry: dict, timeout: float, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One prompt that keeps failing (a 500, or a request over the timeout) while /health answers and the file
    still names the server: requeueing would fail on it again, forever; it is that request's error."""
    from sftkit import stopping
    from sftkit.errors import InputError

    monkeypatch.setattr(stopping, "_received", [])
    script = [{"match": ["seed two"], **entry}, {"match": ["seed one"], "choices": [{"content": "ok"}]}]
    with scripted(script, tmp_path) as (url, _):
        engine = served_engine(url, tmp_path / ".server.json", timeout=timeout)
        with pytest.raises(InputError) as failed:
            engine.generate(
                [[{"role": "user", "content": "seed one"}], [{"role": "user", "content": "seed two"}]],
                Sampling(max_tokens=8, seed=0),
            )
    assert message in str(failed.value) and stopping.requested() is None


def test_a_server_whose_health_fails_once_retries_are_spent_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file still names it (its job has not noticed yet), but /health no longer answers: requeue."""
    from sftkit import stopping
    from sftkit.errors import Interrupted

    monkeypatch.setattr(stopping, "_received", [])  # this process's stop request, undone after the test
    engine = served_engine("http://127.0.0.1:9/v1", tmp_path / ".server.json")
    with pytest.raises(Interrupted):
        engine.generate([[{"role": "user", "content": "seed one"}]], Sampling(max_tokens=8, seed=0))
    assert "stopped answering (ConnectError after 2 attempts; its /health" in stopping.requested()


def test_each_request_to_a_server_carries_the_seed_the_local_engines_draw_with(tmp_path: Path) -> None:
    """Not one seed for all: each prompt's own, from --seed and the prompt (request_seed, --seed-mode request)."""
    from sftkit.engines.base import request_seed

    convs = [[{"role": "user", "content": f"What is {i} + {i + 3}?"}] for i in range(3)]
    with scripted(slow_script(3, delay=0), tmp_path) as (url, log):
        served_engine(url, tmp_path / ".server.json").generate(
            convs, Sampling(max_tokens=8, temperature=0.7, n=2, seed=5)
        )
    sent = {json.dumps(r["request"]["messages"]): r["request"]["seed"] for r in log_lines(log)}
    assert sent == {json.dumps(c): request_seed(5, c) for c in convs} and len(set(sent.values())) == 3


def test_the_llm_filter_solves_and_judges_on_a_server_found_through_its_file(tmp_path: Path) -> None:
    """Solver and judges reach the same server through --inference-server-file and --judgement-server-file,
    and decide every row as they do given its URL."""
    rows = write_jsonl(
        tmp_path / "problems.jsonl",
        [{k: s[k] for k in ("id", "problem", "expected_answer")} for s in REALISTIC["solve"]],
    )
    file = tmp_path / ".kept.server.json"
    common = ["--input", str(rows), "--samples", "2", "--save-per-iteration", "4"]
    with scripted(realistic_script(), tmp_path) as (url, log):
        rendezvous(file, url)
        by_file = run_command(
            FILTER,
            *common,
            "--inference-model",
            "scripted",
            "--inference-server-file",
            str(file),
            "--judgement-model",
            "scripted",
            "--judgement-server-file",
            str(file),
            "--output",
            str(tmp_path / "file/kept.jsonl"),
        )
        sent = len(log_lines(log))
        run_command(
            FILTER,
            *common,
            *remote(url, "inference-"),
            *remote(url, "judgement-"),
            "--output",
            str(tmp_path / "url/kept.jsonl"),
        )
    assert by_file.stderr.count(f"model server {url} (job 7) serves scripted") == 1  # one client for both
    decided = [
        {k: r[k] for k in ("id", "samples", "n_decided", "n_correct", "pass_rate", "kept")}
        for r in read_jsonl(tmp_path / "file/kept.full.jsonl")
    ]
    assert decided == [
        {k: r[k] for k in ("id", "samples", "n_decided", "n_correct", "pass_rate", "kept")}
        for r in read_jsonl(tmp_path / "url/kept.full.jsonl")
    ]
    assert any(sample.get("verdicts") for r in decided for sample in r["samples"])  # the judge ran on the server
    assert sum(r["n_decided"] for r in decided) > 0 and sent == len(log_lines(log)) - sent
