"""Benchmark shortcuts: the Slurm script's example names only shortcuts."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

from sftkit.decontaminate.index import SHORTCUTS, BenchmarkSpec

pytestmark = pytest.mark.unit


def test_the_slurm_script_example_uses_shortcuts() -> None:
    example = (REPO / "slurm/run_decontaminate.sh").read_text()
    names = re.findall(r"--benchmark (\S+)", example)
    assert names, "the script's example names no --benchmark"
    for name in names:
        assert BenchmarkSpec.parse(name).name in SHORTCUTS, name
