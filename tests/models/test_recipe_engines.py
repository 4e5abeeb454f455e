"""A recipe stage on the engine path: the score stage of recipes/distill-documents.yaml with the cached tiny
model as its judge (hf engine). The tiny model writes no rubric answer, so every pair is undecided, with its
reason, and never scored zero; the scripted-server test (tests/stages/test_pipeline_recipes.py) checks the
decided ones."""

from pathlib import Path

import pytest
import yaml
from helpers import REPO, read_jsonl, run_command, write_jsonl

pytestmark = pytest.mark.models


def test_the_distill_recipe_score_stage_runs_the_tiny_model_as_its_judge(tiny_model: Path, tmp_path: Path) -> None:
    recipe = yaml.safe_load((REPO / "recipes" / "distill-documents.yaml").read_text())
    args = next(s for s in recipe["stages"] if s["stage"] == "score")["args"]
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"id": "p0", "question": "What is 2 + 3?", "answer": "5"},
            {"id": "p1", "question": "专项附加扣除包括哪几项？", "answer": "子女教育、继续教育等七项。"},
            {"id": "p2", "question": "What do booster doses do?", "answer": "They raise the number of memory cells."},
        ],
    )
    out = tmp_path / "judged.jsonl"
    result = run_command(
        "hpc/score.py",
        "--input",
        str(pairs),
        "--output",
        str(out),
        "--rubric",
        str(REPO / args["rubric"]),
        "--judgement-model",
        str(tiny_model),
        "--judgement-engine",
        "hf",
        "--judgement-dtype",
        "fp32",
        "--judge-max-tokens",
        "24",
        "--min-score",
        str(args["min-score"]),
        check=False,
    )
    assert result.returncode != 0 and "Nothing was kept" in result.stderr  # no judge decided any pair
    rejects = read_jsonl(tmp_path / "judged.jsonl.parts" / "part-00000-of-00001.rejects.jsonl")
    assert len(rejects) == 3 and all(r["reason"].startswith("no judge decided") for r in rejects)
    for r in rejects:
        (total,) = r["record"]["score_totals"].values()
        assert total is None and r["record"]["score_reasons"]  # undecided with its reason, never 0
