"""Model server jobs on the real local Slurm: slurm/run_server.sh serving the vLLM CPU build to client tasks,
requeues, submit.sh --server and its sbatch options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import GENERATE, REPO, client_args, run_script, write_seeds

pytestmark = pytest.mark.cluster


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


# slurm/run_server.sh running the vLLM CPU build's server, clients and merge on the local Slurm
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
