"""A recipe command's mistake points at the command a person typed, not at a module's __main__.py."""

from __future__ import annotations

import pytest

from sftkit.cli import run_main
from sftkit.pipeline.__main__ import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("command", ["status", "pipeline"])
def test_a_missing_recipe_names_submit_sh(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        run_main(lambda: main([command]))
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1, err
    assert f"(see slurm/submit.sh {command} --help)" in err[0] and "__main__" not in err[0], err[0]
