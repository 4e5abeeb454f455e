"""What the README and the migration page say is "now required" matches the parsers: a default the predecessor
had and we keep (the filter's dataset, the scorer's output) is not told to a newcomer as a flag to add."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

from sftkit.commands import difficulty_scorer, filter, generate, length_selector

pytestmark = pytest.mark.unit


def _default(module, flag: str):
    return next(a for a in module.build_parser()._actions if flag in a.option_strings).default


def _required_section(text: str) -> str:
    start = text.index("Now required:") if "Now required:" in text else text.index("## What is now required")
    return re.split(r"\n## |Hub repos are private", text[start:], maxsplit=1)[0]


@pytest.mark.parametrize("page", ["README.md", "docs/migration.md"])
def test_now_required_matches_the_parsers(page: str) -> None:
    section = _required_section((REPO / page).read_text())
    assert _default(filter, "--input") == "nvidia/OpenMathReasoning"
    assert _default(difficulty_scorer, "--output") == "results/difficulty_scores.json"
    assert _default(generate, "--input") is None and _default(length_selector, "--input") is None
    assert not re.search(r"`--input` for the filter|`hpc/filter\.py`[^.]*take no default", section), section
    assert not re.search(r"`--output` for the difficulty scorer", section), section
    assert "nvidia/OpenMathReasoning" in section and "results/difficulty_scores.json" in section, section
