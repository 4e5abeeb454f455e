"""A comment or docstring that sends a reader to a README section names one the README still has."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

pytestmark = pytest.mark.unit

POINTER = re.compile(r'README,? "([^"]+)"')
FILES = ["Makefile", "pyproject.toml", *(str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("*.py"))]


def test_readme_section_pointers_resolve() -> None:
    headings = {h.strip() for h in re.findall(r"^#+ (.+)$", (REPO / "README.md").read_text(), re.M)}
    stale = [
        f'{name}: README "{section}"'
        for name in FILES
        for section in POINTER.findall((REPO / name).read_text())
        if section not in headings and name != "tests/unit/test_readme_pointers.py"
    ]
    assert not stale, f"sections no longer in README.md (moved to docs/): {stale}"
