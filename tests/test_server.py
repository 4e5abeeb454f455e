"""Model server jobs: the rendezvous file, clients on --server-file, slurm/run_server.sh and submit.sh --server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_script
from servers import scripted
from test_stopping import GENERATE, SEEDS, log_lines, slow_script, write_seeds

from sftkit.data.journal import JOURNAL_NAME, Journal


def client_args(seeds: Path, out: Path, *where: str) -> list[str]:
    """The stage of test_stopping (one chunk, two requests in flight), reaching its server by ``where``."""
    return ["--input", str(seeds), "--model", "scripted", *where, "--concurrency", "2", "--n", "2",
            "--temperature", "0.7", "--save-per-iteration", "100", "--output", str(out)]


def rendezvous(path: Path, url: str, model: str = "scripted", **more: str) -> None:
    path.write_text(json.dumps({"url": url, "model": model, "job_id": "7", "restart": "0", **more}))


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / GENERATE), *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


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


@pytest.mark.parametrize(("content", "wait", "message"), [
    (None, "2", "no model server answered within 2s (no such file yet)"),
    ({"url": "http://127.0.0.1:9/v1", "model": "scripted"}, "2",
     "it names http://127.0.0.1:9/v1 (job 7), which does not answer http://127.0.0.1:9/health"),
    ({"failed": "vllm serve exited 1 before it answered /health", "log": "logs/s.out"}, "3600",
     "the server job 7 could not start its server: vllm serve exited 1 before it answered /health (log: logs/s.out)"),
    ({"url": "http://127.0.0.1:9/v1", "model": "Qwen/Qwen3-8B"}, "3600",
     "serves 'Qwen/Qwen3-8B', but this stage asks for 'scripted'"),
])
def test_waiting_for_a_server_is_bounded_and_ends_in_one_line(tmp_path: Path, content: dict | None, wait: str,
                                                               message: str) -> None:
    file = tmp_path / ".server.json"
    if content is not None:
        file.write_text(json.dumps({"job_id": "7", **content}))
    seeds = write_seeds(tmp_path / "seeds.jsonl")
    began = time.monotonic()
    proc = run_script(GENERATE, *client_args(seeds, tmp_path / "gen.jsonl", "--server-file", str(file),
                                             "--server-wait", wait), check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - began < 60


def test_base_url_and_server_file_together_are_refused(tmp_path: Path) -> None:
    proc = run_script(GENERATE, *client_args(write_seeds(tmp_path / "s.jsonl"), tmp_path / "g.jsonl", "--base-url",
                                             "http://127.0.0.1:9/v1", "--server-file", "x.json"), check=False)
    assert proc.returncode == 2 and "give --base-url or --server-file, not both" in proc.stderr


def test_a_server_gone_mid_run_saves_exits_75_and_the_rerun_on_its_successor_sends_only_the_rest(
        tmp_path: Path) -> None:
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
        run_script(GENERATE, *client_args(seeds, tmp_path / "ref.jsonl", "--engine", "openai", "--base-url",
                                          successor))
    assert f"{kept} finished requests of the chunk at row 0 are saved" in resumed.stderr
    assert sent == SEEDS - kept  # nothing that finished was sent again
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def test_one_node_serves_alone_and_several_start_ray_first() -> None:
    from sftkit.commands.model_server import Launch

    one = Launch("Qwen/Qwen3-8B", ["gpu07"], 2, 1, 8000, "10.0.0.7", 6379, "py", ["--max-model-len", "8192"])
    assert one.commands() == [["py", "-m", "vllm.entrypoints.openai.api_server", "--model", "Qwen/Qwen3-8B", "--host",
                               "0.0.0.0", "--port", "8000", "--tensor-parallel-size", "2",
                               "--pipeline-parallel-size", "1", "--max-model-len", "8192"]]
    three = Launch("deepseek-ai/DeepSeek-R1", ["gpu07", "gpu08", "gpu09"], 8, 3, 8000, "10.0.0.7", 6379, "py", [])
    assert three.commands() == [
        ["ray", "start", "--head", "--node-ip-address=10.0.0.7", "--port=6379", "--block"],
        ["srun", "--nodes=1", "--ntasks=1", "--overlap", "-w", "gpu08", "ray", "start", "--address=10.0.0.7:6379",
         "--block"],
        ["srun", "--nodes=1", "--ntasks=1", "--overlap", "-w", "gpu09", "ray", "start", "--address=10.0.0.7:6379",
         "--block"],
        ["py", "-m", "vllm.entrypoints.openai.api_server", "--model", "deepseek-ai/DeepSeek-R1", "--host", "0.0.0.0",
         "--port", "8000", "--tensor-parallel-size", "8", "--pipeline-parallel-size", "3",
         "--distributed-executor-backend", "ray"]]


def test_submit_points_the_engines_running_the_served_model_at_its_file(tmp_path: Path) -> None:
    from sftkit.data.errors import InputError
    from sftkit.orchestrate import server_flags

    out = str(tmp_path / "out/kept.jsonl")
    file = str(tmp_path / "out/.kept.jsonl.server.json")
    assert server_flags("filter", "Q", ["--inference-model", "S", "--judgement-model", "Q", "--output", out,
                                        "--input", "x"]) == (file, ["--judgement-server-file", file])
    assert server_flags("generate", "Q", ["--output", out, "--input", "x"])[1] == [
        "--model", "Q", "--server-file", file]
    with pytest.raises(InputError, match=r"also name \['R'\], which one server cannot serve"):
        server_flags("filter", "Q", ["--judgement-model", "Q", "--judgement-model", "R", "--output", out,
                                     "--input", "x"])
    with pytest.raises(InputError, match="no engine of stage generate runs it; give --model Q"):
        server_flags("generate", "Q", ["--model", "P", "--output", out, "--input", "x"])
    with pytest.raises(InputError, match="difficulty_scorer cannot use a model server"):
        server_flags("difficulty_scorer", "Q", ["--output", out, "--input", "x"])
