"""An engine that cannot start is one line and exit 2 in every stage, not a traceback of the engine's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_script

pytestmark = pytest.mark.models


@pytest.mark.parametrize("engine", ["vllm", "hf"])
def test_a_model_that_cannot_start_is_one_line_in_generate(engine: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"problem": "What is 1 + 1?", "expected_answer": "2"}) + "\n")
    proc = run_script(
        "hpc/generate.py",
        "--engine",
        engine,
        "--model",
        str(broken),
        "--input",
        str(seeds),
        "--output",
        str(tmp_path / "out.jsonl"),
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: model '{broken}' failed to load ({engine}): ")
    assert "Traceback" not in proc.stderr
