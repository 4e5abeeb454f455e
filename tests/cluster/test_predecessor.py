"""The predecessor's command lines, as its README wrote them, run here or say in one line what to add.

Its users know these lines. Each runs with the script it names mapped to ours (docs/migration.md) on a
machine without network: a Hub dataset or model it names cannot be reached, so the honest outcomes are a
run (exit 0) or one line naming what to add or fetch (exit 2), never a traceback or a usage block.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import DEMO, REPO

pytestmark = pytest.mark.cluster

LINES = [
    line
    for line in (REPO / "tests" / "corpus" / "predecessor_commands.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
SCRIPTS = {  # the predecessor's script -> ours
    "length_selector.py": "selectors/length_selector.py",
    "OpenMathReasoningFiltering_bylabel.py": "selectors/label_filter.py",
    "OpenMathReasoningFiltering.py": "hpc/filter.py",
    "generateFromSeed.py": "hpc/generate.py",
    "difficulty_scorer.py": "hpc/difficulty_scorer.py",
    "upload_data.py": "upload/upload_data.py",
}
# what a line must say when it cannot run here: the flag to add, or the Hub name to fetch beforehand
SAYS = {
    "python generateFromSeed.py --input_file scored_data.json": "--model is required: a Hub id or a local folder",
    "python upload_data.py --dataset_path ./results": "--repo_id USER/NAME is required",
}


def command(line: str) -> list[str]:
    words = shlex.split(line)
    if words[0] == "python":
        return [sys.executable, str(REPO / SCRIPTS[words[1]]), *words[2:]]
    if words[0] == "sbatch":  # the job script itself, run here as Slurm would run its one task
        return ["bash", str(REPO / "slurm" / words[1]), *words[2:]]
    return ["bash", str(REPO / "slurm" / Path(words[0]).name), "--local", *words[1:]]  # submits: here, locally


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the predecessor's lines name, as a user of it would have them."""
    root = tmp_path_factory.mktemp("predecessor")
    rows = [json.loads(line) for line in DEMO.read_text().splitlines()[:20]]
    for name in ("selected_seeds.json", "seed_problems.json", "scored_data.json"):
        (root / name).write_text(json.dumps(rows))
    for config in ("processed_dataset", "filtered_dataset", "combined_dataset"):
        (root / "results" / config / "train").mkdir(parents=True)
        (root / "results" / config / "train" / "hard_problems.json").write_text(json.dumps(rows))
    return root


def test_the_lines_are_the_readmes() -> None:
    assert len(LINES) == 29 and all(
        line.split()[0] in ("python", "sbatch", "./universal_length_selector.sh") for line in LINES
    )


@pytest.mark.parametrize("line", LINES)
def test_a_predecessor_line_runs_or_says_in_one_line_what_to_add(line: str, folder: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "SFTKIT_LOG_DIR": str(folder / "logs"),
    }
    proc = subprocess.run(command(line), cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "usage:" not in out, out[-3000:]
    assert proc.returncode in (0, 2), out[-3000:]
    if proc.returncode == 2:
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and len(last) < 800, last
        assert SAYS.get(line, "") in last, last
