"""Model server jobs: the rendezvous file, clients on --server-file, slurm/run_server.sh and submit.sh --server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_script
from servers import scripted
from test_stopping import GENERATE, SEEDS, log_lines, slow_script, write_seeds

from sftkit.data.journal import JOURNAL_NAME, Journal
from sftkit.engines.base import ChatOptions, Sampling
from sftkit.engines.openai_compat import OpenAIEngine


def client_args(seeds: Path, out: Path, *where: str) -> list[str]:
    """The stage of test_stopping (one chunk, two requests in flight), reaching its server by ``where``."""
    return [
        "--input",
        str(seeds),
        "--model",
        "scripted",
        *where,
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
        run_script(GENERATE, *client_args(seeds, tmp_path / "ref.jsonl", "--engine", "openai", "--base-url", url))
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
        proc = run_script(GENERATE, *args)
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
    proc = run_script(
        GENERATE,
        *client_args(seeds, tmp_path / "gen.jsonl", "--server-file", str(file), "--server-wait", wait),
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - began < 60


def test_base_url_and_server_file_together_are_refused(tmp_path: Path) -> None:
    proc = run_script(
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
        resumed = run_script(GENERATE, *client_args(seeds, out, "--server-file", str(file)))
        sent = len(log_lines(log))
        run_script(GENERATE, *client_args(seeds, tmp_path / "ref.jsonl", "--engine", "openai", "--base-url", successor))
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


def test_a_task_that_keeps_stopping_is_requeued_a_bounded_number_of_times(slurm: None, tmp_path: Path) -> None:
    """Exit 75 requeues the task (lib.sh), but not past SFTKIT_MAX_REQUEUES: it fails with a line saying why."""
    from slurm_cluster import wait_done, wait_running

    log = tmp_path / "task.out"
    job = (
        subprocess.run(
            [
                "sbatch",
                "--parsable",
                "-c",
                "1",
                "--mem=1G",
                f"--output={log}",
                f"--export=ALL,SFTKIT_ROOT={REPO},SFTKIT_MAX_REQUEUES=0",
                str(REPO / "slurm/run_generate.sh"),
                *client_args(
                    write_seeds(tmp_path / "s.jsonl"),
                    tmp_path / "g.jsonl",
                    "--server-file",
                    str(tmp_path / ".none.server.json"),
                ),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .split(";")[0]
    )
    try:
        wait_running(job, timeout=120)
        deadline = time.time() + 120
        while "waiting for the model server" not in (log.read_text() if log.exists() else ""):
            assert time.time() < deadline, log.read_text() if log.exists() else "no log"
            time.sleep(0.3)
        subprocess.run(["scancel", "-s", "USR1", "-b", job], check=True)  # the time limit is near, again
        assert wait_done(job, timeout=60) == "FAILED", log.read_text()
    finally:
        subprocess.run(["scancel", job], check=False)
    out = log.read_text()
    assert "exited 75" in out and f"{job} was already requeued 0 times (SFTKIT_MAX_REQUEUES=0): not again" in out
    assert f"requeueing {job}" not in out


def test_sampled_requests_to_a_vllm_server_draw_what_the_local_vllm_engine_draws(
    tiny_model: Path, vllm_engine: object
) -> None:
    """Temperature 0.7, n=2: the real vLLM CPU server, sent each prompt's own seed, samples what the local
    engine samples with --seed-mode request (one seed for all would draw alike for every prompt)."""
    from servers import free_port, serve, vllm_server

    convs = [[{"role": "user", "content": f"What is {i} + {i + 3}? Explain."}] for i in range(4)]
    sampling = Sampling(max_tokens=24, temperature=0.7, n=2, seed=3)
    port = free_port()
    with serve(vllm_server(str(tiny_model), port), port) as url:
        served = OpenAIEngine(str(tiny_model), ChatOptions(enable_thinking=False), url).generate(convs, sampling)
    local = vllm_engine.generate(convs, sampling)
    # the server drops the tiny tokenizer's special <think> tags from its text (see test_engines)
    untag = lambda text: text.replace("<think>", "").replace("</think>", "")  # noqa: E731
    assert [[s.text for s in c.samples] for c in served] == [[untag(s.text) for s in c.samples] for c in local]
    assert len({s.text for c in served for s in c.samples}) > 2  # sampled, not greedy


def test_the_llm_filter_solves_and_judges_on_a_server_found_through_its_file(tmp_path: Path) -> None:
    """Solver and judges reach the same server through --inference-server-file and --judgement-server-file,
    and decide every row as they do given its URL."""
    from test_realistic import CORPUS, FILTER, read_jsonl, remote, script, write_jsonl

    rows = write_jsonl(
        tmp_path / "problems.jsonl", [{k: s[k] for k in ("id", "problem", "expected_answer")} for s in CORPUS["solve"]]
    )
    file = tmp_path / ".kept.server.json"
    common = ["--input", str(rows), "--samples", "2", "--save-per-iteration", "4"]
    with scripted(script(), tmp_path) as (url, log):
        rendezvous(file, url)
        by_file = run_script(
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
        run_script(
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


def test_one_node_serves_alone_and_several_start_ray_first() -> None:
    from sftkit.commands.model_server import Launch, head_address

    assert head_address("10.0.0.7", None) == "10.0.0.7" and head_address("localhost", "10.0.0.8") == "10.0.0.8"

    one = Launch("Qwen/Qwen3-8B", ["gpu07"], 2, 1, 8000, "10.0.0.7", 6379, "py", ["--max-model-len", "8192"])
    assert one.commands() == [
        [
            "py",
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            "Qwen/Qwen3-8B",
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--tensor-parallel-size",
            "2",
            "--pipeline-parallel-size",
            "1",
            "--max-model-len",
            "8192",
        ]
    ]
    three = Launch("deepseek-ai/DeepSeek-R1", ["gpu07", "gpu08", "gpu09"], 8, 3, 8000, "10.0.0.7", 6379, "py", [])
    assert three.commands() == [
        ["ray", "start", "--head", "--node-ip-address=10.0.0.7", "--port=6379", "--block"],
        [
            "srun",
            "--nodes=1",
            "--ntasks=1",
            "--overlap",
            "-w",
            "gpu08",
            "ray",
            "start",
            "--address=10.0.0.7:6379",
            "--block",
        ],
        [
            "srun",
            "--nodes=1",
            "--ntasks=1",
            "--overlap",
            "-w",
            "gpu09",
            "ray",
            "start",
            "--address=10.0.0.7:6379",
            "--block",
        ],
        [
            "py",
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            "deepseek-ai/DeepSeek-R1",
            "--host",
            "0.0.0.0",
            "--port",
            "8000",
            "--tensor-parallel-size",
            "8",
            "--pipeline-parallel-size",
            "3",
            "--distributed-executor-backend",
            "ray",
        ],
    ]


def test_submit_points_the_engines_running_the_served_model_at_its_file(tmp_path: Path) -> None:
    from sftkit.errors import InputError
    from sftkit.orchestrate import server_flags

    out = str(tmp_path / "out/kept.jsonl")
    file = str(tmp_path / "out/.kept.jsonl.server.json")
    assert server_flags(
        "filter", "Q", ["--inference-model", "S", "--judgement-model", "Q", "--output", out, "--input", "x"]
    ) == (file, ["--judgement-server-file", file])
    assert server_flags("generate", "Q", ["--output", out, "--input", "x"])[1] == [
        "--model",
        "Q",
        "--server-file",
        file,
    ]
    with pytest.raises(InputError, match=r"also name \['R'\], which one server cannot serve"):
        server_flags(
            "filter", "Q", ["--judgement-model", "Q", "--judgement-model", "R", "--output", out, "--input", "x"]
        )
    with pytest.raises(InputError, match="no engine of stage generate runs it; give --model Q"):
        server_flags("generate", "Q", ["--model", "P", "--output", out, "--input", "x"])
    with pytest.raises(InputError, match="difficulty_scorer cannot use a model server"):
        server_flags("difficulty_scorer", "Q", ["--output", out, "--input", "x"])


# --- the real thing: slurm/run_server.sh running the vLLM CPU build's server, clients and merge on the local Slurm

SERVED_SEEDS = 60
LOCAL_VLLM = ["--dtype", "fp32", "--max-model-len", "512", "--enforce-eager"]


def stage_args(seeds: Path, out: Path) -> list[str]:
    """Greedy generation, checkpointed every 5 seeds, one request in flight: slow enough to be killed mid-run."""
    return [
        "--input",
        str(seeds),
        "--temperature",
        "0",
        "--max-tokens",
        "40",
        "--no-thinking",
        "--save-per-iteration",
        "5",
        "--concurrency",
        "1",
        "--output",
        str(out),
    ]


def without_provenance(path: Path) -> list[dict]:
    """Records without their engine provenance (engine name, server URL), which says how, not what."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [{k: v for k, v in json.loads(line).items() if k != "generation"} for line in lines]


def assert_same_as_local(served: Path, local: Path) -> None:
    """Every seed accounted for once (a record or a quarantined generation), as on the local engine."""
    records, rejects = without_provenance(served), without_provenance(served.with_name("gen.jsonl.rejects.jsonl"))
    assert len(records) + len(rejects) == SERVED_SEEDS and len(records) > SERVED_SEEDS // 2
    assert records == without_provenance(local)
    assert rejects == without_provenance(local.with_name("gen.jsonl.rejects.jsonl"))


@pytest.fixture(scope="module")
def served_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_seeds(tmp_path_factory.mktemp("served") / "seeds.jsonl", SERVED_SEEDS)


@pytest.fixture(scope="module")
def local_reference(tiny_model: Path, served_seeds: Path) -> Path:
    """The same stage on the local vllm engine, in one process: what the served runs must equal."""
    out = served_seeds.parent / "local/gen.jsonl"
    run_script(GENERATE, *stage_args(served_seeds, out), "--model", str(tiny_model), "--engine", "vllm", *LOCAL_VLLM)
    return out


def submit_served(cwd: Path, model: Path, seeds: Path) -> dict[str, str]:
    import re

    env = {**os.environ, "SFTKIT_MERGE_POLL": "1"}
    # one task at a time: the test node has 2 CPUs, and clients waiting for a requeued server must leave it one
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "generate",
            "--shards",
            "2",
            "--max-parallel",
            "1",
            "-c",
            "1",
            "--mem=2G",
            "--server",
            str(model),
            "--server-sbatch",
            "-c 1 --mem=4G",
            "--server-args",
            "--check-every 2 -- --dtype float32 --max-model-len 512 --enforce-eager",
            "--",
            *stage_args(seeds, cwd / "out/gen.jsonl"),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {
        k: re.search(pat, proc.stdout).group(1)
        for k, pat in (
            ("server", r"server job (\d+)"),
            ("array", r"array job (\d+)"),
            ("merge", r"merge job (\d+)"),
            ("stopper", r"job (\d+) cancels the server"),
        )
    }


def logs(cwd: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((cwd / "logs").iterdir())}


def test_a_server_job_serves_two_client_tasks_and_the_merge_equals_a_local_engine_run(
    slurm: None, tiny_model: Path, served_seeds: Path, local_reference: Path, tmp_path: Path
) -> None:
    from slurm_cluster import job_state, wait_done

    ids = submit_served(tmp_path, tiny_model, served_seeds)
    assert wait_done(ids["merge"], timeout=480) == "COMPLETED", logs(tmp_path)
    assert wait_done(ids["stopper"], timeout=60) == "COMPLETED"
    assert wait_done(ids["server"], timeout=60) == "CANCELLED"  # no model left serving nobody
    text = logs(tmp_path)
    server_log = text[f"sftkit-server-{ids['server']}.out"]
    assert "server ready" in server_log and "SIGTERM: server stopped" in server_log, server_log
    assert not (tmp_path / "out/.gen.jsonl.server.json").exists()  # removed as it stopped
    for task in (0, 1):  # each client found the server through the file and sent it its shard
        assert f"(job {ids['server']}) serves {tiny_model}" in text[f"sftkit-generate-{ids['array']}_{task}.out"]
    assert_same_as_local(tmp_path / "out/gen.jsonl", local_reference)
    engines = {json.loads(line)["generation"]["engine"] for line in (tmp_path / "out/gen.jsonl").open()}
    assert engines == {"openai"} and "RUNNING" not in job_state(ids["server"])


def test_the_server_killed_mid_run_is_requeued_and_the_clients_resume_losing_nothing(
    slurm: None, tiny_model: Path, served_seeds: Path, local_reference: Path, tmp_path: Path
) -> None:
    import re
    import signal

    from slurm_cluster import wait_done

    ids = submit_served(tmp_path, tiny_model, served_seeds)
    server_log = tmp_path / "logs" / f"sftkit-server-{ids['server']}.out"
    ckpt = tmp_path / "out/gen.jsonl.parts/part-00000-of-00002.ckpt"
    deadline = time.time() + 300
    while len(list(ckpt.glob("chunk-*.json"))) < 2:  # the first client is well into its shard
        assert time.time() < deadline, logs(tmp_path)
        time.sleep(0.2)
    vllm = int(re.findall(r"started pid (\d+): .*api_server", server_log.read_text())[-1])
    os.kill(vllm, signal.SIGKILL)
    assert wait_done(ids["merge"], timeout=540) == "COMPLETED", logs(tmp_path)
    text = logs(tmp_path)
    server = text[server_log.name]
    assert f"requeueing job {ids['server']}" in server and server.count("server ready") == 2, server
    client = text[f"sftkit-generate-{ids['array']}_0.out"]
    assert "stopped answering" in client and f"requeueing {ids['array']}_0" in client, client
    assert "resuming at row" in client
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "out/gen.jsonl.parts").glob("*.done"))]
    assert markers[0]["slurm_restart_count"] != "0"
    assert_same_as_local(tmp_path / "out/gen.jsonl", local_reference)  # nothing lost or doubled


def submit_server(cwd: Path, *options: str) -> subprocess.CompletedProcess:
    """submit.sh generate --server with ``options`` (before the --), on a stage that needs no model here."""
    seeds = write_seeds(cwd / "seeds.jsonl")
    return subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "generate",
            "--shards",
            "2",
            "-c",
            "1",
            "--mem=1G",
            "--server",
            "M",
            *options,
            "--",
            "--input",
            str(seeds),
            "--output",
            str(cwd / "gen.jsonl"),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_submission_failing_after_its_server_job_cancels_that_server(slurm: None, tmp_path: Path) -> None:
    """A typo in the stage's sbatch options fails the array's sbatch: nothing would ever cancel the server."""
    import re

    proc = submit_server(tmp_path, "-p", "nosuchpartition", "--server-sbatch", "-c 1 --mem=1G --hold")
    assert proc.returncode != 0 and "invalid partition" in proc.stderr.lower(), proc.stderr
    server = re.search(r"its server job (\d+) was submitted; cancelled jobs (\d+)$", proc.stderr.strip())
    assert server and server.group(1) == server.group(2), proc.stderr
    queued = subprocess.run(["squeue", "-h", "-j", server.group(1), "-o", "%i %T"], capture_output=True, text=True)
    assert queued.stdout.strip() in ("", f"{server.group(1)} CANCELLED"), queued.stdout  # nothing left to run


def test_server_args_and_sbatch_options_are_split_as_a_shell_splits_them(slurm: None, tmp_path: Path) -> None:
    """A quoted --server-args value (a chat template) reaches vllm serve as one argument."""
    import re

    from slurm_cluster import wait_done

    proc = submit_server(
        tmp_path,
        "--server-sbatch",
        "-c 1 --mem=1G --comment 'two words'",
        "--server-args",
        "--dry-run -- --chat-template '{{ messages }} x'",
    )
    assert proc.returncode == 0, proc.stderr
    ids = re.findall(r"(?:server job|array job|merge job|^job) (\d+)", proc.stdout, re.MULTILINE)
    try:
        assert (
            "Comment=two words"
            in subprocess.run(["scontrol", "show", "job", ids[0]], capture_output=True, text=True).stdout
        )
        assert wait_done(ids[0], timeout=120) == "COMPLETED"
    finally:
        subprocess.run(["scancel", *ids[1:]], check=False)
    log = (tmp_path / "logs" / f"sftkit-server-{ids[0]}.out").read_text()
    assert "--chat-template '{{ messages }} x'" in log, log
    unclosed = submit_server(tmp_path, "--server-args", "--tp '2")
    assert unclosed.returncode == 2 and '--server-args "--tp \'2": No closing quotation' in unclosed.stderr


def test_run_server_dry_run_on_two_nodes_prints_the_ray_launch(slurm: None) -> None:
    """The script's own wiring: the job's node list expanded, TP from the node's GPUs, PP from its nodes."""
    env = {
        **os.environ,
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_JOB_NUM_NODES": "2",
        "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7",
        "SFTKIT_HEAD_ADDRESS": "10.0.0.7",
    }
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "slurm/run_server.sh"),
            "--model",
            "Qwen/Qwen3-235B-A22B",
            "--server-file",
            "x.json",
            "--port",
            "8000",
            "--dry-run",
            "--",
            "--max-model-len",
            "32768",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if not line.startswith("[sftkit]")]
    assert commands == [
        "ray start --head --node-ip-address=10.0.0.7 --port=6379 --block",
        "srun --nodes=1 --ntasks=1 --overlap -w gpu08 ray start --address=10.0.0.7:6379 --block",
        f"{sys.executable} -m vllm.entrypoints.openai.api_server --model Qwen/Qwen3-235B-A22B --host 0.0.0.0 "
        "--port 8000 --tensor-parallel-size 8 --pipeline-parallel-size 2 --distributed-executor-backend ray "
        "--max-model-len 32768",
    ]
    assert not Path("x.json").exists()
    # a head whose name resolves only to loopback would point every Ray worker at itself
    env = {**env, "SLURM_JOB_NODELIST": "localhost,gpu08", "SFTKIT_HEAD_ADDRESS": ""}
    proc = subprocess.run(
        ["bash", str(REPO / "slurm/run_server.sh"), "--model", "M", "--server-file", "x.json", "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2 and "the Ray head node localhost resolves only to loopback" in proc.stderr, proc.stderr
    assert "give --head-address" in proc.stderr and "ray start" not in proc.stdout
