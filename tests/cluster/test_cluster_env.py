"""The first day on a real GPU cluster, checked without Slurm: which Python environment slurm/lib.sh chooses,
the GPU preflight of the GPU stages, models a compute node cannot get, and GPUs, ports and start times of the
workers of a task (through the local executor)."""

from __future__ import annotations

import importlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from fake_envs import clean_env, fake_conda, fake_env, fake_repo
from helpers import REPO, run_script

from sftkit import preflight
from sftkit.errors import InputError
from sftkit.registry import STAGES, stage

pytestmark = pytest.mark.cluster


def activate(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Source lib.sh as a run script does, activate, and print the choice and the python's path."""
    script = (
        f'ROOT={root}; source {REPO}/slurm/lib.sh; sftkit_activate; echo "$SFTKIT_ENV_CHOSEN"; command -v "$PYTHON"'
    )
    return subprocess.run(["bash", "-c", script], env=clean_env(**env), capture_output=True, text=True, timeout=60)


@pytest.fixture
def envs(tmp_path: Path) -> dict[str, Path]:
    return {
        "repo": fake_repo(tmp_path / "repo"),
        "venv": fake_env(tmp_path / "gpu-venv", "gpu venv"),
        "other": fake_env(tmp_path / "other-venv", "other venv"),
        "conda": fake_conda(tmp_path / "conda"),
    }


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("nothing active", "repo/.venv"),
        ("venv active", "gpu-venv"),
        ("conda env active", "conda/envs/gpu"),
        ("conda base active", "repo/.venv"),
        ("venv on top of a conda env", "gpu-venv"),
        ("SFTKIT_VENV over an active venv", "other-venv"),
        ("SFTKIT_CONDA_ENV over an active venv", "conda/envs/gpu"),
    ],
)
def test_environment_precedence(envs: dict[str, Path], case: str, expected: str) -> None:
    venv, conda = envs["venv"], envs["conda"]
    active_venv = {"VIRTUAL_ENV": str(venv), "PATH": f"{venv}/bin:{os.environ['PATH']}"}
    active_conda = {
        "CONDA_PREFIX": f"{conda}/envs/gpu",
        "CONDA_DEFAULT_ENV": "gpu",
        "CONDA_EXE": f"{conda}/bin/conda",
        "PATH": f"{conda}/envs/gpu/bin:{conda}/bin:{os.environ['PATH']}",
    }
    env = {
        "nothing active": {},
        "venv active": active_venv,
        "conda env active": active_conda,
        "conda base active": {
            "CONDA_PREFIX": str(conda),
            "CONDA_DEFAULT_ENV": "base",
            "CONDA_EXE": f"{conda}/bin/conda",
            "PATH": f"{conda}/bin:{os.environ['PATH']}",
        },
        "venv on top of a conda env": {**active_conda, **active_venv},
        "SFTKIT_VENV over an active venv": {**active_venv, "SFTKIT_VENV": str(envs["other"])},
        "SFTKIT_CONDA_ENV over an active venv": {
            **active_venv,
            "SFTKIT_CONDA_ENV": "gpu",
            "CONDA_EXE": f"{conda}/bin/conda",
        },
    }[case]
    proc = activate(envs["repo"], **env)
    assert proc.returncode == 0, proc.stderr
    chosen, python = proc.stdout.splitlines()
    assert python == str(envs["repo"].parent / expected / "bin" / "python"), (case, chosen)
    assert str(envs["repo"].parent / expected) in chosen


def test_environment_conflicts_and_stale_environments_are_refused(envs: dict[str, Path], tmp_path: Path) -> None:
    both = activate(envs["repo"], SFTKIT_VENV=str(envs["venv"]), SFTKIT_CONDA_ENV="gpu")
    assert both.returncode == 2 and "both SFTKIT_CONDA_ENV" in both.stderr
    gone = activate(envs["repo"], VIRTUAL_ENV=str(tmp_path / "deleted-venv"))
    assert gone.returncode == 2 and f"no {tmp_path}/deleted-venv/bin/python" in gone.stderr


NO_MODEL = "no-such-org/no-such-model"
GPU_STAGES = {
    "filter": ["--inference-engine", "hf", "--inference-model", NO_MODEL, "--judge", "never"],
    "generate": ["--engine", "hf", "--model", NO_MODEL],
    "difficulty_scorer": ["--engine", "hf", "--primary-model", NO_MODEL],
}


@pytest.mark.parametrize("name", GPU_STAGES)
def test_a_gpu_stage_given_gpus_stops_when_torch_is_a_cpu_build(demo_data: Path, tmp_path: Path, name: str) -> None:
    proc = run_script(
        STAGES[name].script,
        "--input",
        str(demo_data),
        *GPU_STAGES[name],
        "--output",
        str(tmp_path / "out.jsonl"),
        env={"CUDA_VISIBLE_DEVICES": "0", "SFTKIT_ALLOW_CPU": "0"},
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("error: this job was given GPUs (CUDA_VISIBLE_DEVICES=0)")
    assert f"{sys.executable} (torch " in error and "is a CPU build of torch" in error
    assert "SFTKIT_CONDA_ENV=NAME or SFTKIT_VENV=PATH" in error and "SFTKIT_ALLOW_CPU=1" in error
    assert not (tmp_path / "out.jsonl.parts").exists()  # stopped before any work


@pytest.mark.parametrize(
    ("env", "given"),
    [
        ({}, None),
        ({"CUDA_VISIBLE_DEVICES": "2,3"}, "CUDA_VISIBLE_DEVICES=2,3"),
        ({"SLURM_JOB_GPUS": "5"}, "SLURM_JOB_GPUS=5"),
        ({"SLURM_STEP_GPUS": "0,1"}, "SLURM_STEP_GPUS=0,1"),
        ({"CUDA_VISIBLE_DEVICES": "", "SLURM_JOB_GPUS": "5"}, None),  # hidden on purpose
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({"CUDA_VISIBLE_DEVICES": "NoDevFiles", "SLURM_JOB_GPUS": "0"}, None),
    ],
)
def test_which_jobs_count_as_given_gpus(env: dict[str, str], given: str | None) -> None:
    assert preflight.gpus_given(env) == given


def test_the_preflight_opt_out_and_stages_that_use_no_local_gpu() -> None:
    gpu_job = {"CUDA_VISIBLE_DEVICES": "0"}
    with pytest.raises(InputError, match="CPU build"):
        preflight.check_gpus(1, gpu_job)
    preflight.check_gpus(1, {**gpu_job, "SFTKIT_ALLOW_CPU": "1"})  # a CPU run on purpose
    preflight.check_gpus(0, gpu_job)  # nothing local uses a GPU
    preflight.check_gpus(1, {"SLURM_JOB_GPUS": ""})  # no GPUs given

    def needed(name: str, *args: str) -> int:
        module = importlib.import_module(stage(name).command)
        return module.gpus_needed(module.build_parser().parse_args([*args, "--input", "i", "--output", "o.jsonl"]))

    server = ["--base-url", "http://127.0.0.1:8000/v1"]
    assert needed("generate", "--engine", "openai", "--model", "m", *server) == 0
    assert (
        needed(
            "filter",
            "--inference-engine",
            "openai",
            "--inference-model",
            "m",
            "--inference-base-url",
            server[1],
            "--judge",
            "never",
        )
        == 0
    )
    assert (
        needed(
            "filter",
            "--judge-only",
            "--candidate-field",
            "c",
            "--judgement-model",
            "j",
            "--judgement-engine",
            "openai",
            "--judgement-base-url",
            server[1],
        )
        == 0
    )
    assert (
        needed(
            "filter",
            "--inference-model",
            "m",
            "--inference-tp",
            "2",
            "--judgement-model",
            "j",
            "--judgement-tp",
            "4",
            "--judgement-pp",
            "2",
        )
        == 8
    )
    assert needed("generate", "--model", "m", "--tp", "2", "--pp", "2") == 4
    assert needed("difficulty_scorer", "--engine", "hf") == 1
    assert needed("difficulty_scorer", "--merge") == 0


def _one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit 2 with one error line and no traceback (a progress line such as "loading M..." may precede it)."""
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("filter", GPU_STAGES["filter"]),
        ("generate", GPU_STAGES["generate"]),
        ("generate", ["--engine", "vllm", "--model", NO_MODEL]),  # stops before vLLM even starts
        ("difficulty_scorer", GPU_STAGES["difficulty_scorer"]),
        ("length_selector", ["--length-unit", "tokens", "--tokenizer", NO_MODEL, "--total_samples", "10"]),
    ],
)
def test_a_model_the_node_cannot_get_stops_with_one_line_naming_it(
    demo_data: Path, tmp_path: Path, name: str, args: list[str]
) -> None:
    """HF_HUB_OFFLINE=1 (set for every test) and a model that is in no cache: how an offline node sees it."""
    proc = run_script(
        STAGES[name].script, "--input", str(demo_data), *args, "--output", str(tmp_path / "o.jsonl"), check=False
    )
    error = _one_error(proc)
    assert error.startswith(f"error: model '{NO_MODEL}'") and "HF_HUB_OFFLINE is set" in proc.stderr
    assert f"`hf download {NO_MODEL}" in proc.stderr and "then run the job with HF_HUB_OFFLINE=1" in proc.stderr


def _cached(home: Path, repo: str, files: dict[str, bytes]) -> None:
    """A Hub cache entry as `hf download` lays it out (refs/main naming a snapshot), holding ``files``."""
    entry = home / "hub" / f"models--{repo.replace('/', '--')}"
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text("0" * 40)
    for name, data in files.items():
        (entry / "snapshots" / ("0" * 40) / name).parent.mkdir(parents=True, exist_ok=True)
        (entry / "snapshots" / ("0" * 40) / name).write_bytes(data)


@pytest.mark.parametrize(
    "files",
    [
        {"config.json": b"{}"},  # hf download cut after the config
        {
            "config.json": b"{}",
            "model.safetensors.index.json": b'{"weight_map": {"a": "model-00001-of-00002.safetensors", '
            b'"b": "model-00002-of-00002.safetensors"}}',
            "model-00001-of-00002.safetensors": b"x",
        },  # one shard of two
    ],
)
def test_a_partly_downloaded_model_stops_vllm_before_it_starts(
    demo_data: Path, tmp_path: Path, files: dict[str, bytes]
) -> None:
    _cached(tmp_path / "hf", "fakeorg/partial", files)
    proc = run_script(
        "hpc/generate.py",
        "--engine",
        "vllm",
        "--model",
        "fakeorg/partial",
        "--input",
        str(demo_data),
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"HF_HOME": str(tmp_path / "hf")},
        check=False,
    )
    error = _one_error(proc)
    assert "fakeorg/partial" in error and "lacks" in error and "hf download fakeorg/partial" in error


def test_a_fully_cached_model_passes_the_weights_check(tmp_path: Path) -> None:
    _cached(tmp_path / "hf", "fakeorg/whole", {"config.json": b"{}", "model.safetensors": b"x"})
    code = "from sftkit.engines.hub import require_weights; require_weights('fakeorg/whole'); print('ok')"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_every_scoring_model_is_checked_before_the_first_loads(demo_data: Path, tmp_path: Path) -> None:
    primary = tmp_path / "primary"  # a folder: it passes the check, and would fail to load
    primary.mkdir()
    proc = run_script(
        STAGES["difficulty_scorer"].script,
        "--input",
        str(demo_data),
        "--engine",
        "hf",
        "--primary-model",
        str(primary),
        "--ensemble-models",
        NO_MODEL,
        "--output",
        str(tmp_path / "o.jsonl"),
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: model '{NO_MODEL}'"), proc.stderr
    assert not (tmp_path / "o.jsonl.passes").exists()
    missing = run_script(
        STAGES["filter"].script,
        "--input",
        str(demo_data),
        "--inference-engine",
        "hf",
        "--inference-model",
        str(tmp_path / "gone"),
        "--judge",
        "never",
        "--output",
        str(tmp_path / "k.jsonl"),
        check=False,
    )
    assert missing.returncode == 2 and f"model folder '{tmp_path}/gone' does not exist" in missing.stderr


def test_a_server_models_tokenizer_names_what_to_download() -> None:
    from sftkit.engines.base import ChatOptions
    from sftkit.engines.openai_compat import OpenAIEngine

    engine = OpenAIEngine(NO_MODEL, ChatOptions(), "http://127.0.0.1:8000/v1")
    with pytest.raises(
        InputError,
        match=r"its tokenizer, to count prompt tokens.*"
        rf"`hf download {NO_MODEL} --include '\*.json' '\*.model'`",
    ):
        engine.tokenizer  # noqa: B018 - a cached property that loads


@pytest.mark.parametrize("gpus_from", ["SLURM_JOB_GPUS", "nothing"])
def test_several_gpu_workers_without_cuda_visible_devices_are_refused(
    demo_data: Path, tmp_path: Path, gpus_from: str
) -> None:
    """Every worker would see every GPU: refused, on a GPU job or for a GPU stage not run on CPU on purpose."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(SFTKIT_ALLOW_CPU="0", **({"SLURM_JOB_GPUS": "0,1"} if gpus_from == "SLURM_JOB_GPUS" else {}))
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "filter",
            "--shards",
            "2",
            "--workers-per-task",
            "2",
            "--",
            "--input",
            str(demo_data),
            "--inference-engine",
            "hf",
            "--inference-model",
            NO_MODEL,
            "--judge",
            "never",
            "--output",
            "k.jsonl",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 workers but no CUDA_VISIBLE_DEVICES to split among them" in proc.stdout
    assert (
        "this job has GPUs (SLURM_JOB_GPUS=0,1)"
        if gpus_from == "SLURM_JOB_GPUS"
        else "the stage runs its model on GPUs (SFTKIT_ALLOW_CPU=1 for a CPU run)"
    ) in proc.stdout
    assert "worker 0: pid" not in proc.stdout


def test_each_worker_has_its_own_ports_and_they_start_staggered(demo_data: Path, tmp_path: Path) -> None:
    """Several TP engines starting at once on one node race for ports: each worker gets a block of its own
    (VLLM_PORT and MASTER_PORT in its environment, recorded in its shard's marker), starts seconds apart."""
    env = {**os.environ, "SFTKIT_WORKER_STAGGER": "2", "VLLM_PORT": "8000", "MASTER_PORT": "29500"}  # ignored
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "label_filter",
            "--shards",
            "4",
            "--workers-per-task",
            "2",
            "--",
            "--input",
            str(demo_data),
            "--filter-by-pass-rate",
            "0.4",
            "--output",
            "out/f.jsonl",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    markers = [orjson.loads(p.read_bytes()) for p in sorted((tmp_path / "out/f.jsonl.parts").glob("*.done"))]
    ports = [(int(m["vllm_port"]), int(m["master_port"])) for m in markers]
    assert len(ports) == 4 and len({v for v, _ in ports}) == 4 and all(v == m + 1 for v, m in ports)
    blocks = sorted(m for _, m in ports)
    assert all(b - a >= 16 for a, b in itertools.pairwise(blocks)), blocks  # blocks of 16 never overlap
    for task in ("0", "1"):
        started = [int(t) for t in re.findall(rf"\[task {task}\] \[sftkit\] worker \d: .* started=(\d+)", proc.stdout)]
        assert len(started) == 2 and started[1] - started[0] >= 2, proc.stdout


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_a_stop_signal_during_the_stagger_starts_no_more_workers(big_jsonl: Path, tmp_path: Path) -> None:
    """USR1 (the time limit is near) while later workers wait their turn: the started one saves, the rest
    never start, and the task counts as one to requeue (exit 0 here, outside Slurm)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(SFTKIT_WORKER_STAGGER="60", SFTKIT_WORKERS_PER_TASK="2", SFTKIT_ROOT=str(REPO))
    run = subprocess.Popen(
        [
            "bash",
            str(REPO / "slurm/run_label_filter.sh"),
            "--input",
            str(big_jsonl),
            "--filter-by-pass-rate",
            "0.4",
            "--output",
            "f.jsonl",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in run.stdout:
        lines.append(line)
        if "worker 0: pid" in line:
            break
    time.sleep(1)
    run.send_signal(signal.SIGUSR1)
    out = "".join(lines) + run.communicate(timeout=30)[0]
    assert run.returncode == 0, out
    assert "not starting workers 1-1 after USR1" in out and "worker 1: pid" not in out
    # 138: USR1 reached the worker before Python caught it, with nothing to save yet: counted as saved
    assert re.search(r"worker pid \d+ exited (0|75|138)", out)


def test_a_hub_repository_without_the_probed_file_is_left_to_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Online, a repository that exists but has no config.json (Mistral format, GGUF) is not "unavailable"."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    from sftkit.engines.hub import require_model

    class RemoteMissing(EntryNotFoundError):
        pass

    def no_file(repo: str, file: str) -> str:
        raise RemoteMissing(f"{file} is not in {repo}")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_file)
    require_model("org/mistral-format")

    def offline(repo: str, file: str) -> str:
        raise LocalEntryNotFoundError("not in the cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(InputError, match="hf download org/mistral-format"):
        require_model("org/mistral-format")
