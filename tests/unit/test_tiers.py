"""The test tiers are folders, checked by tests/conftest.py: a test outside one, unmarked, or reaching a model or
the cluster from a lower tier (even through another fixture) fails the collection; `make test-fast` runs only the
unit and stages tiers."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

pytestmark = pytest.mark.unit

PLANTED = {
    "stages/test_reaches_a_model.py": """
        import pytest
        pytestmark = pytest.mark.stages

        @pytest.fixture
        def answers(tiny_model):  # the model only through another fixture
            return tiny_model

        def test_it(answers):
            pass
    """,
    "unit/test_reaches_the_cluster.py": """
        import pytest
        pytestmark = pytest.mark.unit

        def test_it(slurm):
            pass
    """,
    "models/test_reaches_the_cluster.py": """
        import pytest
        pytestmark = pytest.mark.models

        def test_it(tiny_model, slurm):
            pass
    """,
    "stages/test_unmarked.py": """
        def test_it():
            pass
    """,
    "test_in_no_tier.py": """
        import pytest
        pytestmark = pytest.mark.unit

        def test_it():
            pass
    """,
}
FINE = {
    "models/test_ensemble.py": """
        import pytest
        pytestmark = pytest.mark.models

        def test_it(tiny_ensemble, vllm_engine):
            pass
    """,
    "cluster/test_everything.py": """
        import pytest
        pytestmark = pytest.mark.cluster

        def test_it(slurm, tiny_model):
            pass
    """,
    "stages/test_plain.py": """
        import pytest
        pytestmark = pytest.mark.stages

        def test_it(tmp_path):
            pass
    """,
}


def _collect(pytester: pytest.Pytester, files: dict[str, str]) -> pytest.RunResult:
    """Collect (build nothing) the planted files under the real tests/conftest.py."""
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(line[8:] for line in text.splitlines()))
    return pytester.runpytest("--collect-only", "-q", "--import-mode=importlib", "-p", "no:cacheprovider")


def test_tests_in_their_tiers_collect(pytester: pytest.Pytester) -> None:
    result = _collect(pytester, FINE)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    result.stdout.fnmatch_lines(["*3 tests collected*"])


def test_a_test_in_the_wrong_tier_fails_the_collection_naming_why(pytester: pytest.Pytester) -> None:
    result = _collect(pytester, {**PLANTED, **FINE})
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = result.stderr.str()
    expected = [
        "stages/test_reaches_a_model.py::test_it: uses tiny_model, which belong in tests/models or tests/cluster",
        "stages/test_unmarked.py::test_it: in tests/stages/ but not marked: add `pytestmark = pytest.mark.stages`",
        "test_in_no_tier.py::test_it: not in a tier folder",
        "unit/test_reaches_the_cluster.py::test_it: uses slurm, which belong in tests/cluster, not tests/unit",
        "models/test_reaches_the_cluster.py::test_it: uses slurm, which belong in tests/cluster, not tests/models",
    ]
    assert "tests in the wrong tier:" in errors
    assert [line for line in expected if line not in errors] == [], errors
    assert not any(name in errors for name in FINE)


def test_the_fast_tier_runs_only_the_unit_and_stages_folders() -> None:
    """`make test-fast`, the edit-test loop, leaves out tests/models and tests/cluster by folder."""
    makefile = (REPO / "Makefile").read_text()
    fast = re.search(r"^test-fast:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    pytest_line = next(line for line in fast.splitlines() if "pytest" in line)
    assert re.findall(r"tests/\w+", pytest_line) == ["tests/unit", "tests/stages"]
    assert "-n auto" in pytest_line
    full = re.search(r"^test:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "ruff check" in full and "ruff format --check" in full and "--durations=25" in full
