"""Recipes: slurm/submit.sh pipeline RECIPE (--dry-run, --local, the real local Slurm) and status RECIPE."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset
from helpers import REPO, run_script
from slurm_cluster import wait_done

from sftkit.data.checkpoint import parts_dir
from sftkit.data.shards import shard_of

pytestmark = pytest.mark.cluster

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
SMALL = {"cpus": 1, "mem": "1G"}  # two such jobs fit the 2-CPU test node at once


def submit(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "slurm/submit.sh"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SFTKIT_MERGE_POLL": "1", **(env or {})},
    )


def write_recipe(path: Path, stages: list[dict], **top: object) -> Path:
    path.write_text(
        yaml.safe_dump({"name": "t", "workdir": str(path.parent / "run"), **top, "stages": stages}, sort_keys=False)
    )
    return path


def record(cwd: Path, name: str) -> dict:
    return json.loads((cwd / "run/.pipeline" / f"{name}.json").read_text())


def cpu_stages(data: Path) -> list[dict]:
    """label filter (2 shards) -> length selection -> a dry-run upload of both."""
    return [
        {
            "stage": "label_filter",
            "input": str(data),
            "args": {"filter-by-pass-rate": 0.6, "save-per-iteration": 50},
            "shards": 2,
            **SMALL,
        },
        {"stage": "length_selector", "name": "seeds", "args": {"total-samples": 10}, **SMALL},
        {
            "stage": "upload",
            "configs": {"seeds": "seeds", "filtered": "label_filter"},
            "args": {"repo-id": "you/t", "license": "cc-by-4.0", "dry-run": True},
            **SMALL,
        },
    ]


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_every_shipped_recipe_dry_runs_printing_chained_sbatch_lines(recipe: Path, tmp_path: Path) -> None:
    """No Hub access and no Slurm needed: the sbatch lines are printed, and nothing is written."""
    proc = submit(tmp_path, "pipeline", str(recipe), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stages = yaml.safe_load(recipe.read_text())["stages"]
    sbatch = [line for line in proc.stdout.splitlines() if line.startswith("  sbatch ")]
    assert len(sbatch) == sum(2 if s.get("shards") else 1 for s in stages)
    # every job of a stage after the first waits for the stage before: its array (or job) and its merge
    waits = re.findall(r"--dependency=afterok:[^,\s]+(?:,afterany:\S+)? --kill-on-invalid-dep=yes", proc.stdout)
    assert len(waits) == sum(2 if s.get("shards") else 1 for s in stages[1:])
    assert "dry run, nothing submitted" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_full_recipe_wires_every_stage_to_the_one_before(tmp_path: Path) -> None:
    proc = submit(tmp_path, "pipeline", str(REPO / "recipes/full.yaml"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^== (\w+): .*? -- (.*)$", proc.stdout, re.M)}
    assert set(lines) == {
        "hard",
        "cleaned",
        "deduped",
        "clean",
        "seeds",
        "generated",
        "solved",
        "scores",
        "selected",
        "upload",
    }
    assert "--input results/full/hard.jsonl --output results/full/cleaned.jsonl" in lines["cleaned"]
    assert "--input results/full/cleaned.jsonl --output results/full/deduped.jsonl" in lines["deduped"]
    assert "--benchmark math500 --benchmark aime" in lines["clean"]  # a repeatable flag, once per value
    assert "--input results/full/clean.jsonl --output results/full/seeds.jsonl" in lines["seeds"]
    assert "--input results/full/solved.jsonl --output results/full/scores.jsonl" in lines["scores"]
    # the selector reads the scores and joins them back to the rows the scorer read
    assert "--scores results/full/scores.jsonl --input results/full/solved.jsonl" in lines["selected"]
    assert "--dataset-path results/full/dataset" in lines["upload"]
    assert "would link results/full/dataset/generated/solved.jsonl -> ../../solved.jsonl" in proc.stdout
    # the merge waits for the stage before and for its array, in one --dependency (printf %q escapes the comma)
    assert (
        r"sbatch --parsable --dependency=afterok:seeds.job\,afterany:generated.array --kill-on-invalid-dep=yes"
        in proc.stdout
    )
    assert "--dependency=afterok:generated.merge --kill-on-invalid-dep=yes --gres=gpu:2" in proc.stdout


def test_cluster_options_and_a_model_server_become_submit_options(tmp_path: Path) -> None:
    from sftkit.pipeline import recipe, run
    from sftkit.pipeline.plan import plan

    path = write_recipe(
        tmp_path / "r.yaml",
        [
            {
                "stage": "generate",
                "input": "seeds.jsonl",
                "args": {"model": "M", "engine": "openai"},
                "shards": 4,
                "max_parallel": 2,
                "gres": "gpu:1",
                "time": "01:00:00",
                "partition": "gpu",
                "sbatch": ["--qos=high"],
                "server": {
                    "model": "deepseek-ai/DeepSeek-R1",
                    "gres": "gpu:8",
                    "nodes": 2,
                    "args": "--tp 8 --pp 2",
                    "sbatch": "-p gpu --time=48:00:00",
                },
            }
        ],
    )
    (step,) = plan(recipe.load(path))
    words = run.submit_command(step, after="41")
    assert words[1 : words.index("--")] == [
        "generate",
        "--missing-only",
        "--shards",
        "4",
        "--max-parallel",
        "2",
        "--after",
        "41",
        "--gres=gpu:1",
        "--time=01:00:00",
        "--partition=gpu",
        "--qos=high",
        "--server",
        "deepseek-ai/DeepSeek-R1",
        "--server-gres",
        "gpu:8",
        "--server-nodes",
        "2",
        "--server-args",
        "--tp 8 --pp 2",
        "--server-sbatch",
        "-p gpu --time=48:00:00",
    ]


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([{"stage": "sort"}], "stage 1 field 'stage': unknown stage 'sort'"),
        (
            [{"stage": "length_selector", "input": "x", "shards": 0}],
            "stage 1 (length_selector) field 'shards': must be",
        ),
        ([{"stage": "length_selector", "input": "x", "shards": 2}], "length_selector runs as one job; drop 'shards'"),
        (
            [{"stage": "length_selector", "input": "x", "args": {"total-samplez": 3}}],
            "stage 1 (length_selector) field 'args': unrecognized arguments: --total-samplez 3",
        ),
        (
            [{"stage": "label_filter"}, {"stage": "length_selector", "args": {"input": "y"}}],
            "stage 2 (length_selector) field 'args': --input is set by the recipe's wiring",
        ),
        (
            [{"stage": "label_filter"}, {"stage": "upload", "configs": {"a": "nope"}, "args": {"repo-id": "u/n"}}],
            "stage 2 (upload) field 'configs': must map config names to earlier stages (label_filter)",
        ),
        (
            [{"stage": "label_filter"}, {"stage": "label_filter"}],
            "stage 2 (label_filter) field 'name': 'label_filter' is already",
        ),
        ([{"stage": "label_filter", "gpus": 2}], "stage 1 (label_filter) field 'gpus': unknown"),
        ([{"stage": "label_filter", "time": 7200}], "stage 1 (label_filter) field 'time': must be a quoted string"),
        (
            [{"stage": "label_filter"}, {"stage": "upload", "args": {"repo-id": "u/n"}}, {"stage": "length_selector"}],
            "stage 3 (length_selector): it would read the output of 'upload', which has none",
        ),
        (
            [{"stage": "label_filter", "output": "a.jsonl"}, {"stage": "length_selector", "output": "a.jsonl"}],
            "stage 2 (length_selector) field 'output': a.jsonl is already the output of stage 'label_filter'",
        ),
    ],
)
def test_recipe_mistakes_are_one_line_naming_file_stage_and_field(tmp_path: Path, stages: list, message: str) -> None:
    path = write_recipe(tmp_path / "bad.yaml", stages)
    proc = submit(tmp_path, "pipeline", str(path), "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {path}: "), proc.stderr
    assert message in proc.stderr
    (tmp_path / "broken.yaml").write_text("stages:\n  - stage: [label_filter\n")
    proc = submit(tmp_path, "status", str(tmp_path / "broken.yaml"))
    assert proc.returncode == 2 and "broken.yaml:3: not valid YAML" in proc.stderr


def test_a_merge_only_resubmission_still_waits_for_the_stage_before(slurm: None, tmp_path: Path) -> None:
    """Every shard complete: only the merge is submitted, and it must still wait for --after's job."""
    held = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--cpus-per-task=1", "--mem=100M", "--output=/dev/null", "--wrap", "true"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = tmp_path / "kept.jsonl"
    parts_dir(out).mkdir()
    for shard in range(2):
        (parts_dir(out) / f"{shard_of(shard, 2, 'N').name}.done").write_text("{}")
    proc = submit(
        tmp_path,
        "label_filter",
        "--missing-only",
        "--shards",
        "2",
        "--after",
        held,
        "--",
        "--input",
        str(tmp_path / "in.jsonl"),
        "--output",
        str(out),
        env={"SFTKIT_PRINT_JOBIDS": "1"},
    )
    assert proc.returncode == 0 and "submitting only the merge" in proc.stdout, proc.stdout + proc.stderr
    merge = re.search(r"sftkit-jobs: array=- last=(\d+)", proc.stdout).group(1)
    state = subprocess.run(["squeue", "-h", "-j", merge, "-o", "%T %r"], capture_output=True, text=True).stdout
    assert state.split() == ["PENDING", "Dependency"], state
    subprocess.run(["scancel", held], check=True)
    assert wait_done(merge) == "CANCELLED"  # --kill-on-invalid-dep: the merge never runs


def test_local_runs_the_recipe_and_a_rerun_skips_what_is_done(demo_data: Path, tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", cpu_stages(demo_data))
    proc = submit(tmp_path, "pipeline", str(path), "--local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: " in proc.stdout  # the upload ran, as a dry run
    seeds = load_dataset("parquet", data_files=str(tmp_path / "run/dataset/data/seeds/*.parquet"), split="train")
    kept = load_dataset("parquet", data_files=str(tmp_path / "run/dataset/data/filtered/*.parquet"), split="train")
    assert len(seeds) == 10 and set(seeds["id"]) <= set(kept["id"])
    assert len(kept) == sum(1 for _ in (tmp_path / "run/label_filter.jsonl").open())

    again = submit(tmp_path, "pipeline", str(path), "--local")
    assert again.returncode == 0, again.stderr
    assert "== label_filter: done with these settings (2000 rows in" in again.stdout
    assert "== seeds: done with these settings" in again.stdout and "label_filter --shards" not in again.stdout

    stages = cpu_stages(demo_data)
    stages[1]["args"]["total-samples"] = 12  # new settings: the stage and every one after it run again
    write_recipe(path, stages)
    changed = submit(tmp_path, "pipeline", str(path), "--local")
    assert changed.returncode == 0, changed.stderr
    assert "== label_filter: done" in changed.stdout and "== seeds: done" not in changed.stdout
    assert len(json.loads((tmp_path / "run/seeds.jsonl.stats.json").read_text())["bins"]) == 6
    assert sum(1 for _ in (tmp_path / "run/seeds.jsonl").open()) == 12
    status = submit(tmp_path, "status", str(path))
    assert re.search(r"seeds .* done .* 12 out", status.stdout), status.stdout


def ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.open()]


def direct(data: Path, out: Path, *args: str) -> list:
    """The ids the label filter keeps run by hand, in one job: what a pipeline rerun must equal."""
    run_script("selectors/label_filter.py", "--input", str(data), "--output", str(out), *args)
    return ids(out)


def test_a_changed_sharded_stage_or_input_runs_every_shard_again(demo_data: Path, tmp_path: Path) -> None:
    """Changed settings, a changed input file, or a changed upstream output: the old complete shards are
    discarded, never merged into the new result."""
    rows = demo_data.read_text().splitlines(keepends=True)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(rows[:1800]))
    stages = cpu_stages(data)[:2]
    path = write_recipe(tmp_path / "r.yaml", stages)
    assert submit(tmp_path, "pipeline", str(path), "--local").returncode == 0
    kept = tmp_path / "run/label_filter.jsonl"

    stages[0]["args"]["filter-by-pass-rate"] = 0.9
    write_recipe(path, stages)
    dry = submit(tmp_path, "pipeline", str(path), "--dry-run")
    assert "would discard " in dry.stdout and "label_filter --missing-only" not in dry.stdout, dry.stdout
    assert "changed" in submit(tmp_path, "status", str(path)).stdout
    proc = submit(tmp_path, "pipeline", str(path), "--local")
    assert proc.returncode == 0 and "discarding " in proc.stdout, proc.stdout + proc.stderr
    assert ids(kept) == direct(data, tmp_path / "d1.jsonl", "--filter-by-pass-rate", "0.9")

    data.write_text("".join(rows))  # 200 rows appended to the recipe's input, same arguments
    status = submit(tmp_path, "status", str(path))
    assert f"its input {data} changed" in status.stdout, status.stdout
    proc = submit(tmp_path, "pipeline", str(path), "--local")
    assert proc.returncode == 0 and "label_filter: done" not in proc.stdout, proc.stdout + proc.stderr
    assert ids(kept) == direct(data, tmp_path / "d2.jsonl", "--filter-by-pass-rate", "0.9")
    assert "== label_filter: done" in submit(tmp_path, "pipeline", str(path), "--local").stdout

    # a sharded stage after one whose output changed: it reads the new output, all of it
    first = {"stage": "length_selector", "name": "seeds", "input": str(data), "args": {"total-samples": 100}}
    second = {k: v for k, v in stages[0].items() if k != "input"} | {"output": str(tmp_path / "after.jsonl")}
    write_recipe(path, [first, second])
    assert submit(tmp_path, "pipeline", str(path), "--local").returncode == 0
    first["args"]["total-samples"] = 40
    write_recipe(path, [first, second])
    proc = submit(tmp_path, "pipeline", str(path), "--local")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ids(tmp_path / "after.jsonl") == direct(
        tmp_path / "run/seeds.jsonl", tmp_path / "d3.jsonl", "--filter-by-pass-rate", "0.9"
    )


def test_the_difficulty_selector_reads_the_scorers_split(tiny_model: Path, tmp_path: Path) -> None:
    """A Hub-layout dataset with only a `cot` split (as OpenMathReasoning) and its own id field: the
    selector joins the scores back to the rows the scorer read, with its --split, --input-format and
    --id-field, --local."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    hub = tmp_path / "hub"
    (hub / "data").mkdir(parents=True)
    rows = [{"uid": f"q{i}", "problem": f"What is {i} + {i}?", "expected_answer": str(2 * i)} for i in range(6)]
    pq.write_table(pa.Table.from_pylist(rows), hub / "data/cot-00000-of-00001.parquet")
    (tmp_path / "prompt.txt").write_text("{{question}}")
    path = write_recipe(
        tmp_path / "r.yaml",
        [
            {
                "stage": "difficulty_scorer",
                "name": "scores",
                "input": str(hub),
                "args": {
                    "input-format": "hub",
                    "split": "cot",
                    "id-field": "uid",
                    "primary-model": str(tiny_model),
                    "engine": "hf",
                    "use-float32": True,
                    "samples": 2,
                    "max-new-tokens": 8,
                    "max-sequence-length": 64,
                    "max-input-length": 32,
                    "prompt-file": str(tmp_path / "prompt.txt"),
                },
            },
            {"stage": "difficulty_selector", "name": "hard", "args": {"top-k": 3}},
        ],
    )
    proc = submit(tmp_path, "pipeline", str(path), "--local", env={"SFTKIT_ALLOW_CPU": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"== hard: .* --input \S+/hub --split cot --input-format hub --id-field uid ", proc.stdout)
    hard = load_dataset("json", data_files=str(tmp_path / "run/hard.jsonl"), split="train")
    assert len(hard) == 3 and set(hard["uid"]) <= {r["uid"] for r in rows} and "expected_answer" in hard.column_names


def test_dry_run_submits_nothing(slurm: None, demo_data: Path, tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", cpu_stages(demo_data))
    proc = submit(tmp_path, "pipeline", str(path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    # Slurm keeps every job, ended ones too, for MinJobAge (10 minutes here): none was submitted from here
    jobs = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout
    assert f"WorkDir={tmp_path} " not in jobs and f"WorkDir={tmp_path}\n" not in jobs
    assert "--dependency=afterok:seeds.job --kill-on-invalid-dep=yes" in proc.stdout
    assert not (tmp_path / "run").exists()
    submit(tmp_path, "pipeline", str(path))  # the same recipe for real: the check above would see it
    jobs = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout
    assert f"WorkDir={tmp_path} " in jobs
    subprocess.run(
        [
            "scancel",
            *(
                j
                for r in ("label_filter", "seeds", "upload")
                for j in (record(tmp_path, r).get("array"), record(tmp_path, r)["last"])
                if j
            ),
        ]
    )


def test_four_stages_with_a_tiny_model_run_on_slurm_to_a_dry_run_upload(
    slurm: None, demo_data: Path, tiny_model: Path, tmp_path: Path
) -> None:
    stages = cpu_stages(demo_data)
    stages.insert(
        2,
        {
            "stage": "filter",
            "name": "solved",
            "shards": 2,
            "cpus": 1,
            "mem": "2G",
            "args": {
                "inference-model": str(tiny_model),
                "inference-engine": "hf",
                "inference-dtype": "fp32",
                "samples": 2,
                "max-tokens": 24,
                "judge": "never",
                "max-pass-rate": 1.0,
            },
        },
    )
    stages[3]["configs"] = {"seeds": "seeds", "solved": "solved"}
    path = write_recipe(tmp_path / "r.yaml", stages)
    proc = submit(tmp_path, "pipeline", str(path), env={"SFTKIT_ALLOW_CPU": "1"})  # fake GPUs, CPU torch
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "watch progress: watch -n 30" in proc.stdout and "status" in proc.stdout
    upload = record(tmp_path, "upload")
    assert wait_done(upload["last"], timeout=400) == "COMPLETED", "".join(
        p.read_text() for p in (tmp_path / "run/logs").iterdir()
    )
    assert "dry run: " in Path(upload["log"]).read_text()
    solved = load_dataset("parquet", data_files=str(tmp_path / "run/dataset/data/solved/*.parquet"), split="train")
    assert len(solved) == sum(1 for _ in (tmp_path / "run/solved.jsonl").open()) > 0
    assert all(n == 2 for n in solved["n_samples"])
    status = submit(tmp_path, "status", str(path))
    assert status.returncode == 0 and status.stdout.count(" done ") == 4, status.stdout


def test_a_failed_stage_cancels_the_later_ones_and_status_names_the_shard(
    slurm: None, demo_data: Path, tmp_path: Path
) -> None:
    rows = demo_data.read_text().splitlines()[:200]
    rows[150] = '{"id": "broken", "problem": '  # in shard 1 of 2
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(rows) + "\n")
    path = write_recipe(tmp_path / "r.yaml", cpu_stages(data))
    proc = submit(tmp_path, "pipeline", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, upload = record(tmp_path, "label_filter"), record(tmp_path, "upload")
    assert wait_done(first["last"]) == "FAILED"
    assert wait_done(upload["last"]) == "CANCELLED"  # --kill-on-invalid-dep: never left pending
    assert wait_done(record(tmp_path, "seeds")["last"]) == "CANCELLED"
    assert not (tmp_path / "run/seeds.jsonl").exists() and not (tmp_path / "run/dataset/data").exists()

    status = submit(tmp_path, "status", str(path))
    assert status.returncode == 1, status.stdout
    assert re.search(r"label_filter .* failed .* 1 of 2 shards done", status.stdout)
    assert re.search(r"seeds .* cancelled", status.stdout) and re.search(r"upload .* cancelled", status.stdout)
    log = first["task_logs"].replace("<task>", "1")
    assert f"label_filter (failed): task 1 did not complete: log {log}" in status.stdout
    assert "data.jsonl:151: malformed JSON" in status.stdout
    assert f"rerun only the missing shards, then merge: {first['rerun']}" in status.stdout
    assert "--missing-only" in first["rerun"] and "--after" not in first["rerun"]

    # quarantining bad rows does not change the stage's results fingerprint: shard 0 is kept, only shard 1 reruns
    stages = cpu_stages(data)
    stages[0]["args"]["on-bad-record"] = "skip"
    write_recipe(path, stages)
    proc = submit(tmp_path, "pipeline", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tasks 1 of 0-1" in proc.stdout
    assert wait_done(record(tmp_path, "upload")["last"]) == "COMPLETED"
    status = submit(tmp_path, "status", str(path))
    assert status.returncode == 0 and status.stdout.count(" done ") == 3, status.stdout
    assert json.loads((tmp_path / "run/label_filter.jsonl.stats.json").read_text())["rejects"] == 1

    again = submit(tmp_path, "pipeline", str(path))
    assert "== label_filter: done with these settings" in again.stdout
    assert "== seeds: done with these settings" in again.stdout
    assert "submitted label_filter" not in again.stdout and "submitted length_selector" not in again.stdout
    assert wait_done(record(tmp_path, "upload")["last"]) == "COMPLETED"  # only the upload ran again
