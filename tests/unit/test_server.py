"""Model server launch lines (one node, or Ray over several) and the flags submit.sh --server gives the stages."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


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
