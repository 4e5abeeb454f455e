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


@pytest.mark.parametrize(
    "stage",
    [
        {"stage": "dedup", "input": "x.jsonl", "merge_tasks": 4},
        {"stage": "clean", "input": "x.jsonl", "shards": 2, "merge_tasks": 4},
    ],
    ids=["no-shards", "no-partitioned-merge"],
)
def test_merge_tasks_without_a_sharded_dedup_is_refused_at_load(tmp_path, stage: dict) -> None:
    """At load, one line, not when submit.sh refuses it after the earlier stages were submitted."""
    import yaml

    from sftkit.errors import InputError
    from sftkit.pipeline import recipe

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "workdir": str(tmp_path / "run"), "stages": [stage]}))
    with pytest.raises(InputError, match="field 'merge_tasks'"):
        recipe.load(path)
