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


@pytest.mark.parametrize(
    ("benchmark", "copy"),
    [
        (r"Compute $\dbinom{10}{3}$.", r"Compute $\binom{10}{3}$."),
        (
            r"Find all $x$ with $x^2 \leq 9$ and $x \neq 0$ or $x \geq 5$.",
            r"Find all $x$ with $x^2\le9$ and $x\ne0$ or $x\ge5$.",
        ),
        (r"Evaluate $\displaystyle\sum_{k=1}^{5} k$.", r"Evaluate $\sum_{k=1}^5 k$."),
        (r"Find $1 + 2 + \cdots + 10$.", r"Find $1+2+\dots+10$ or $1+2+\ldots+10$."),
    ],
)
def test_more_latex_variants_are_one_form(benchmark: str, copy: str) -> None:
    """Beyond issue 25's eight: \\dbinom, \\leq/\\le, \\displaystyle and the three kinds of dots are written
    alike in competition problems, so a short problem reformatted with them is still the same words."""
    from sftkit.decontaminate.latex import math_form
    from sftkit.dedup.text import normalize, words

    def form(text: str) -> list[str]:
        return words(normalize(math_form(text)), symbols=False)

    assert form(copy)[: len(form(benchmark))] == form(benchmark)


def test_a_mistyped_shortcut_is_one_line_at_once() -> None:
    """A bare name that is no shortcut and no file here ("math-500", "aime24") is not sent to the Hub (30 s of
    retries offline before a misleading error): one line naming the shortcuts, the closest first."""
    from sftkit.errors import InputError

    with pytest.raises(InputError, match=r"'math-500': no shortcut \(did you mean math500\?"):
        BenchmarkSpec.parse("math-500")
    with pytest.raises(InputError, match="gsm8k, gpqa-diamond, hle"):
        BenchmarkSpec.parse("aime24")
    assert BenchmarkSpec.parse("org/name").input == "org/name"  # a Hub id is still one
