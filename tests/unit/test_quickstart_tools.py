"""The quick start's own first two lines (sample data, a tiny model) say a mistake in one line, as the stages do."""

from __future__ import annotations

import pytest

from sftkit.cli import run_main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("module", ["sftkit.synthetic", "sftkit.models.tiny"])
@pytest.mark.parametrize("argv", [["--output", "/sys/sftkit-test/out"], [], ["--bogus", "1"]])
def test_a_mistake_is_one_line_and_exit_2(module: str, argv: list[str], capsys) -> None:
    import importlib

    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as done:
        run_main(lambda: main(argv))
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
