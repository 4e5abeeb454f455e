"""The lines a person reads first at the end of a command say what was made, kept and lost."""

from __future__ import annotations

import pytest

from sftkit.commands.generate import generation_headline

pytestmark = pytest.mark.unit


def test_nothing_kept_is_a_warning_with_the_main_reasons() -> None:
    counts = {"generated": 10, "rejected: copies its seed problem": 6, "rejected: empty generation": 4}
    assert generation_headline(counts) == (
        "warning: generated 10, kept 0 (10 rejected: 6 copies its seed problem; 4 empty generation): nothing kept"
    )


def test_a_partial_keep_names_what_was_rejected_top_three_first() -> None:
    counts = {"generated": 20, "kept": 10, **{f"rejected: r{k}": k for k in range(1, 5)}}
    assert generation_headline(counts) == "generated 20, kept 10 (10 rejected: 4 r4; 3 r3; 2 r2; ...)"
    assert generation_headline({"generated": 3, "kept": 3}) == "generated 3, kept 3"
