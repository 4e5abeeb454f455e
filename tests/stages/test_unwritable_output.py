"""An output that cannot be written stops every command before any work or model load, in one line."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from sftkit.cli import run_main

pytestmark = pytest.mark.stages

BLOCKED = "/sys/sftkit-test/out.jsonl"  # not writable, even for root
MODEL = "no-such-org/never-loaded"  # a load would fail differently: the check must come first


def _cases(data: Path) -> dict[str, list[str]]:
    i = ["--input", str(data)]
    return {
        "label_filter": [*i, "--output", BLOCKED],
        "length_selector": [*i, "--total_samples", "5", "--output", BLOCKED],
        "difficulty_selector": ["--scores", str(data), "--output", BLOCKED],
        "dedup": [*i, "--output", BLOCKED],
        "decontaminate": [*i, "--benchmark", str(data), "--output", BLOCKED],
        "generate": [*i, "--model", MODEL, "--output", BLOCKED],
        "filter": [*i, "--inference-model", MODEL, "--output", BLOCKED],
        "score": [*i, "--judgement-model", MODEL, "--rubric", "rubrics/sft_five.yaml", "--output", BLOCKED],
        "difficulty_scorer": [*i, "--model", MODEL, "--output", BLOCKED],
        "merge_shards": ["--output", BLOCKED],
        "export_sft": [*i, "--output", "/sys/sftkit-test/set", "--format", "messages", "--license", "mit"],
        "upload": ["--dataset_path", "/sys", "--repo_id", "someone/set", "--dry-run", "--license", "mit"],
    }


@pytest.mark.parametrize("name", list(_cases(Path("x"))))
def test_an_unwritable_output_is_one_line_before_any_work(name: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "a", "problem": "1+1?", "expected_answer": "2", "pass_rate": 0.5}) + "\n")
    command = importlib.import_module(f"sftkit.commands.{name}")
    with pytest.raises(SystemExit) as done:
        run_main(lambda: command.main(_cases(data)[name]))
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1, err
    assert "cannot write in /sys" in err[0] and "Permission denied" in err[0], err[0]
