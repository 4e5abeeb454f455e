"""recipes/hh-rlhf.yaml end to end with the local executor (no Slurm): a small file shaped exactly like
Anthropic/hh-rlhf's rows (only `chosen` and `rejected`, each a "\\n\\nHuman: ...\\n\\nAssistant: ..." transcript)
stands for the Hub dataset; the dedup stage and a dry-run upload with --format dpo make the DPO set."""

import json
import os
import subprocess
from pathlib import Path

import datasets
import pytest
import yaml
from helpers import REPO

pytestmark = pytest.mark.stages

RECIPE = REPO / "recipes" / "hh-rlhf.yaml"
SAMPLE = REPO / "tests" / "corpus" / "hh-rlhf.jsonl"


def test_the_hh_rlhf_recipe_makes_dpo_pairs_locally(tmp_path: Path) -> None:
    recipe = yaml.safe_load(RECIPE.read_text())
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    assert all(set(r) == {"chosen", "rejected"} and r["chosen"].startswith("\n\nHuman: ") for r in rows)
    assert recipe["stages"][0]["input"] == "Anthropic/hh-rlhf"
    recipe["stages"][0]["input"] = str(SAMPLE)  # the Hub dataset, offline
    recipe["workdir"] = str(tmp_path / "run")
    recipe["stages"][-1]["args"] = {**recipe["stages"][-1]["args"], "dry-run": True, "val-fraction": 0.2}
    path = tmp_path / "hh-rlhf.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), "pipeline", str(path), "--local"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SFTKIT_MERGE_POLL": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dataset = tmp_path / "run" / "dataset"
    ds = datasets.load_dataset(str(dataset), "default", cache_dir=str(tmp_path / "cache"))
    pairs = [r for split in ds.values() for r in split]
    assert len(pairs) == 10 and len(ds["validation"]) > 0  # 13 rows: a duplicate removed, two malformed
    multi = next(r for r in pairs if r["prompt"][0]["content"] == "I want to start running.")
    assert [m["role"] for m in multi["prompt"]] == ["user", "assistant", "user"]
    assert multi["rejected"][0]["content"] == "Run a marathon this weekend."
    rejects = [json.loads(line) for line in (dataset / "default.rejects.jsonl").read_text().splitlines()]
    assert sorted(r["reason"] for r in rejects) == [
        "chosen and rejected are the same",
        "field 'chosen' turn 3: empty Assistant turn",
    ]
    info = json.loads((dataset / "dataset_info.json").read_text())
    assert info["default"]["ranking"] is True and info["default"]["columns"]["chosen"] == "chosen_turn"
