"""recipes/demo.yaml, the stages `make demo` runs (scripts/demo.sh, with the local executor): it loads and
plans with every stage under its one name, and makes the files the demo's closing summary lists.

It dry-runs with the other shipped recipes in tests/cluster/test_pipeline.py; the demo itself is `make demo`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from sftkit.pipeline import recipe
from sftkit.pipeline.plan import plan
from sftkit.registry import STAGES

pytestmark = pytest.mark.unit

RECIPE = REPO / "recipes" / "demo.yaml"
SCRIPT = REPO / "scripts" / "demo.sh"


def test_the_demo_recipe_plans_every_stage_by_its_one_name_in_pipeline_order() -> None:
    stages = [entry["stage"] for entry in yaml.safe_load(RECIPE.read_text())["stages"]]
    assert all(name in STAGES for name in stages), stages  # one names, no aliases
    assert stages == [name for name in STAGES if name in stages]  # the registry's pipeline order
    steps = plan(recipe.load(RECIPE))
    assert [step.spec.stage for step in steps] == stages
    # the generation, the LLM filter and the scorer each read the seeds; the selector joins back to them
    seeds = "results/demo/selected_seeds.json"
    assert [step.input for step in steps if step.spec.stage in ("generate", "filter", "difficulty_scorer")] == [
        seeds
    ] * 3
    assert steps[-2].options.input == seeds


def test_the_demo_recipe_makes_what_the_demo_lists_and_publishes_five_configs() -> None:
    steps = plan(recipe.load(RECIPE))
    outputs = [Path(step.output) for step in steps if step.output]
    assert {path.parent for path in outputs} == {Path("results/demo")}
    summary = "".join(re.findall(r'^echo "(.*)"$', SCRIPT.read_text(), re.M))
    assert all(path.name in summary for path in outputs), summary
    upload = steps[-1]
    assert upload.spec.stage == "upload" and upload.options.dry_run
    assert sorted({link.parent for link in upload.links}) == [
        Path("results/demo/dataset", config)
        for config in ("filtered", "generated", "hard_seeds", "llm_filtered", "seeds")
    ]


def test_scripts_demo_runs_the_recipe_with_the_local_executor() -> None:
    assert "slurm/submit.sh pipeline recipes/demo.yaml --local" in SCRIPT.read_text()


def test_a_stage_whose_input_flag_takes_several_files_plans_from_the_stage_before(tmp_path: Path) -> None:
    """export_sft's --input takes one or more files: the recipe's wiring gives it one, and that is no conflict."""
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "workdir": str(tmp_path / "run"),
                "stages": [
                    {"name": "dedup", "stage": "dedup", "input": "data.jsonl"},
                    {"name": "sft", "stage": "export_sft", "args": {"format": "messages"}},
                ],
            }
        )
    )
    steps = plan(recipe.load(path))
    assert steps[1].input == str(tmp_path / "run" / "dedup.jsonl")
    assert steps[1].options.input == [steps[1].input]
