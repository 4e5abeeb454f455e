"""The stage registry is the one map of the stages: every file an entry names exists, every command gives the
registry's name, and every place that takes a stage name takes the same names."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess

import pytest
import yaml
from helpers import REPO

from sftkit import orchestrate, registry
from sftkit.commands import Command
from sftkit.errors import InputError

pytestmark = pytest.mark.unit

ENTRIES = [*registry.STAGES.values(), *registry.TOOLS.values()]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_file_an_entry_names_exists(entry: registry.Stage | registry.Tool) -> None:
    assert (REPO / entry.script).is_file(), entry.script
    if entry.sbatch:
        assert (REPO / entry.sbatch).is_file(), entry.sbatch
    if isinstance(entry, registry.Stage):
        assert importlib.util.find_spec(entry.core) is not None, entry.core
        if entry.sbatch:
            assert entry.sbatch == f"slurm/run_{entry.name}.sh", "a stage's sbatch script is named after it"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_command_is_a_command_and_gives_its_registry_name(entry: registry.Stage | registry.Tool) -> None:
    module = importlib.import_module(entry.command)
    assert isinstance(module, Command)
    assert getattr(module, "STAGE", entry.name) == entry.name
    for path in (entry.script, *getattr(entry, "former_scripts", ())):
        assert f"from {entry.command} import main" in (REPO / path).read_text(), f"{path} runs another command"


def test_every_sbatch_script_belongs_to_an_entry() -> None:
    named = {e.sbatch for e in ENTRIES if e.sbatch}
    scripts = {f"slurm/{p.name}" for p in (REPO / "slurm").glob("run_*.sh")}
    assert scripts <= named


def test_aliases_name_their_stage_and_unknown_names_list_the_valid_ones() -> None:
    assert orchestrate.stage("llm_filter").name == "filter"
    assert orchestrate.stage("generate_from_seed").name == "generate"
    with pytest.raises(InputError, match=r"unknown stage 'filtr'; the stages are: .*filter \(or llm_filter\)"):
        orchestrate.stage("filtr")
    assert not set(registry.ALIASES) & set(registry.STAGES), "an alias may not shadow a stage"


def test_recipes_use_the_one_names() -> None:
    for recipe in sorted((REPO / "recipes").glob("*.yaml")):
        for entry in yaml.safe_load(recipe.read_text())["stages"]:
            assert entry["stage"] in registry.STAGES, f"{recipe.name}: {entry['stage']} is not a stage's one name"


def test_the_stats_of_every_command_carry_its_registry_name() -> None:
    """A stage writes its name into markers and stats from its STAGE constant, never a literal of its own."""
    for entry in registry.STAGES.values():
        source = (REPO / (entry.command.replace(".", "/") + ".py")).read_text()
        assert not re.search(r'["\']stage["\']\s*:\s*["\']', source), f"{entry.command} writes a literal stage name"


def test_submit_sh_takes_an_alias_and_names_the_stages_on_a_typo() -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "slurm/submit.sh"), "--local", "filtr", "--", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: unknown stage 'filtr'; the stages are: ")
    usage = subprocess.run(["bash", str(REPO / "slurm/submit.sh")], capture_output=True, text=True, timeout=60)
    assert "stages: " + registry.names_line() in usage.stdout
    alias = subprocess.run(
        ["bash", str(REPO / "slurm/submit.sh"), "--local", "llm_filter", "--", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert alias.returncode == 0 and alias.stdout.startswith("usage: filter.py "), alias.stderr


def test_orchestrate_splits_words_given_after_a_double_dash(capsys) -> None:
    """submit.sh passes --server-args "..." as FLAG STRING: both start with a dash, so after --."""
    assert orchestrate.main(["split", "--", "--server-args", "--tp 8 -- --max-model-len '3 2'"]) == 0
    assert capsys.readouterr().out.splitlines() == ["--tp", "8", "--", "--max-model-len", "3 2"]
