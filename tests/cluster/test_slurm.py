"""The slurm/ layer against a real Slurm: sbatch, job arrays, merge jobs, requeue, fake GPUs."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from fake_envs import clean_env, fake_env, fake_repo
from helpers import REPO, generate_args, run_script, slow_script, write_seeds
from slurm_cluster import wait_done, wait_running

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("slurm")]
SMALL = ["-c", "1", "--mem=1G"]  # two such tasks fit the 2-CPU test node at once


def submit(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> tuple[dict[str, str], str]:
    env = {**os.environ, "SFTKIT_MERGE_POLL": "1", **(env or {})}
    proc = subprocess.run(
        [str(REPO / "slurm/submit.sh"), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )
    if check and proc.returncode:
        raise AssertionError(f"submit.sh failed:\n{proc.stdout}\n{proc.stderr}")
    ids = {
        k: m.group(1)
        for k, pat in (("array", r"array job (\d+)"), ("merge", r"merge job (\d+)"), ("job", r": job (\d+)"))
        if (m := re.search(pat, proc.stdout))
    }
    return ids, proc.stdout


def reference(cwd: Path, data: Path, *extra: str) -> bytes:
    out = cwd / "reference.jsonl"
    run_script(
        "selectors/label_filter.py", "--input", str(data), "--filter-by-pass-rate", "0.4", *extra, "--output", str(out)
    )
    return out.read_bytes()


def test_scripts_run_unmodified_through_sbatch_from_any_folder(demo_data: Path, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    for script, args in (
        ("run_length_selector.sh", ["--input", str(demo_data), "--total_samples", "150", "--output", "sel.json"]),
        (
            "run_label_filter.sh",
            ["--input", str(demo_data), "--filter-by-pass-rate", "0.4", "--output", "filtered.jsonl"],
        ),
    ):
        proc = subprocess.run(
            ["sbatch", "--wait", *SMALL, str(REPO / "slurm" / script), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, (
            proc.stdout + proc.stderr + "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
        )
    assert len(json.loads((tmp_path / "sel.json").read_text())) == 150
    assert (tmp_path / "filtered.jsonl").read_bytes() == reference(tmp_path, demo_data)
    log = next((tmp_path / "logs").glob("sftkit-label-filter-*.out")).read_text()
    assert "[sftkit]" in log and "job=" in log and "label filter" in log


def test_an_environment_active_at_submit_beats_the_repo_venv(demo_data: Path, tmp_path: Path) -> None:
    """sbatch passes the submitting shell's environment on: the (GPU) venv activated there runs the job,
    not the repository's own .venv (`make test`'s, with CPU torch), and the log names the choice."""
    repo, venv = fake_repo(tmp_path / "repo"), fake_env(tmp_path / "gpu-venv", "gpu venv")
    (tmp_path / "logs").mkdir()
    env = clean_env(VIRTUAL_ENV=str(venv), PATH=f"{venv}/bin:{os.environ['PATH']}")
    proc = subprocess.run(
        [
            "sbatch",
            "--wait",
            *SMALL,
            str(repo / "slurm/run_label_filter.sh"),
            "--input",
            str(demo_data),
            "--filter-by-pass-rate",
            "0.4",
            "--output",
            "f.jsonl",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = next((tmp_path / "logs").glob("sftkit-label-filter-*.out")).read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert f"environment: venv {venv} (active where submitted: VIRTUAL_ENV); python: {venv}/bin/python" in log
    assert "python of gpu venv" in log and "python of repo .venv" not in log
    assert (tmp_path / "f.jsonl").read_bytes() == reference(tmp_path, demo_data)


def test_universal_length_selector_submits_a_job(demo_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(REPO / "slurm/universal_length_selector.sh"), str(demo_data), "120", *SMALL, "--output", "u.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    job = re.search(r"job (\d+)", proc.stdout).group(1)
    log = re.search(r"log: (\S+)", proc.stdout).group(1)
    assert wait_done(job) == "COMPLETED", Path(log).read_text()
    assert len(json.loads((tmp_path / "u.json").read_text())) == 120


def test_sharded_array_plus_merge_equals_a_local_run(demo_data: Path, tmp_path: Path) -> None:
    started = time.time()
    ids, out = submit(
        tmp_path,
        "label_filter",
        "--shards",
        "4",
        *SMALL,
        "--",
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.4",
        "--output",
        "out/f.jsonl",
    )
    assert "task logs:" in out and "merge log:" in out and "--missing-only" in out
    assert wait_done(ids["merge"]) == "COMPLETED"
    elapsed = time.time() - started
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)
    assert len(list((tmp_path / "logs").glob(f"sftkit-label-filter-{ids['array']}_*.out"))) == 4
    print(f"\n4-task array + merge: submit to merged output in {elapsed:.1f}s")


@pytest.mark.slow  # kills or checkpoints a stage on 60k rows
def test_requeue_and_usr1_preemption_leave_the_output_identical(big_jsonl: Path, tmp_path: Path) -> None:
    args = [
        "--input",
        str(big_jsonl),
        "--filter-by-pass-rate",
        "0.4",
        "--save-per-iteration",
        "50",
        "--batch-size",
        "50",
    ]
    ids, _ = submit(tmp_path, "label_filter", "--shards", "2", *SMALL, "--", *args, "--output", "out/f.jsonl")
    first, second = f"{ids['array']}_0", f"{ids['array']}_1"
    parts = tmp_path / "out/f.jsonl.parts"
    for task, how in ((first, ["scontrol", "requeue"]), (second, ["scancel", "--batch", "--signal=USR1"])):
        wait_running(task)
        ckpt = parts / f"part-0000{task[-1]}-of-00002.ckpt"
        while len(list(ckpt.glob("chunk-*.json"))) < 5:
            time.sleep(0.05)
        subprocess.run([*how, task], check=True)
    assert wait_done(ids["merge"]) == "COMPLETED"
    markers = [json.loads(p.read_text()) for p in sorted(parts.glob("*.done"))]
    assert [m["slurm_restart_count"] for m in markers] == ["1", "1"]  # both tasks really restarted
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, big_jsonl, *args[4:])
    log = (tmp_path / "logs" / f"sftkit-label-filter-{ids['array']}_1.out").read_text()
    assert "after SIGUSR1" in log and f"requeueing {second}" in log and "resuming at row" in log


def test_a_failed_task_fails_the_merge_and_the_printed_command_completes(demo_data: Path, tmp_path: Path) -> None:
    ids, out = submit(
        tmp_path,
        "label_filter",
        "--shards",
        "4",
        "--max-parallel",
        "1",
        *SMALL,
        "--",
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.4",
        "--output",
        "out/f.jsonl",
    )
    subprocess.run(["scancel", f"{ids['array']}_3"], check=True)
    assert wait_done(ids["merge"]) == "FAILED"
    merge_log = (tmp_path / "logs" / f"sftkit-merge-label_filter-{ids['merge']}.out").read_text()
    assert "shards 3 of 4 are missing" in merge_log
    resubmit = re.search(r"only the missing shards, then merge again:\n\s+(.+)", merge_log).group(1)
    assert resubmit == out.strip().splitlines()[-1].strip()
    ids2, out2 = submit(tmp_path, *resubmit.split()[1:])
    assert "tasks 3 of 0-3" in out2
    assert wait_done(ids2["merge"]) == "COMPLETED"
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)


def test_several_workers_per_task_each_get_their_own_gpus(demo_data: Path, tmp_path: Path) -> None:
    ids, _ = submit(
        tmp_path,
        "label_filter",
        "--shards",
        "4",
        "--workers-per-task",
        "2",
        "--gres=gpu:4",
        "-c",
        "2",
        "--mem=1G",
        "--",
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.4",
        "--output",
        "out/f.jsonl",
    )
    assert wait_done(ids["merge"]) == "COMPLETED"
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "out/f.jsonl.parts").glob("*.done"))]
    assert [(m["slurm_array_task_id"], m["cuda_visible_devices"]) for m in markers] == [
        ("0", "0,1"),
        ("0", "2,3"),
        ("1", "0,1"),
        ("1", "2,3"),
    ]
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)


def test_local_executor_runs_the_same_shards_without_slurm(demo_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "label_filter",
            "--shards",
            "3",
            "--max-parallel",
            "2",
            "--",
            "--input",
            str(demo_data),
            "--filter-by-pass-rate",
            "0.4",
            "--output",
            "out/f.jsonl",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[task 2]" in proc.stdout and "merged 3 shards" in proc.stdout
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)


@pytest.mark.parametrize("gres", ["fake", "none"])
def test_gpu_scripts_submitted_unmodified_with_fake_or_no_gpus(tiny_model: Path, tmp_path: Path, gres: str) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(json.dumps({"problem": f"What is {i} + 1?", "expected_answer": str(i + 1)}) + "\n" for i in range(6))
    )
    # the fake GPUs come with CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS, and torch here is a CPU build: on purpose
    env = {
        **os.environ,
        "SFTKIT_MERGE_POLL": "1",
        "SFTKIT_ALLOW_CPU": "1",
        **({"SBATCH_GRES": "none"} if gres == "none" else {}),
    }
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "filter",
            "--shards",
            "2",
            "-c",
            "1",
            "--mem=2G",
            "--",
            "--input",
            str(problems),
            "--inference-model",
            str(tiny_model),
            "--inference-engine",
            "hf",
            "--inference-dtype",
            "fp32",
            "--samples",
            "2",
            "--max-tokens",
            "24",
            "--judge",
            "never",
            "--output",
            "out/kept.jsonl",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    merge = re.search(r"merge job (\d+)", proc.stdout).group(1)
    assert wait_done(merge) == "COMPLETED", "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    every = [json.loads(line) for line in (tmp_path / "out/kept.full.jsonl").read_text().splitlines()]
    assert len(every) == 6 and all(r["n_samples"] == 2 for r in every)
    markers = [json.loads(p.read_text()) for p in (tmp_path / "out/kept.jsonl.parts").glob("*.done")]
    gpus = [m.get("cuda_visible_devices") for m in markers]
    if gres == "fake":  # each task was given one of the node's fake GPUs
        assert all(g in {"0", "1", "2", "3"} for g in gpus)
    else:  # SBATCH_GRES=none overrides the script's #SBATCH --gres line
        assert gpus == [None, None]


def test_difficulty_scorer_array_and_its_merge_job_fit_over_all_shards(tiny_model: Path, tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(json.dumps({"problem": f"What is {i} + 2?", "expected_answer": str(i + 2)}) + "\n" for i in range(8))
    )
    args = [
        "--input",
        str(problems),
        "--primary-model",
        str(tiny_model),
        "--engine",
        "hf",
        "--use-float32",
        "--samples",
        "2",
        "--temperature",
        "0",
        "--max-new-tokens",
        "16",
        "--max-sequence-length",
        "64",
        "--max-input-length",
        "48",
    ]
    ids, _ = submit(
        tmp_path,
        "difficulty_scorer",
        "--shards",
        "2",
        "-c",
        "1",
        "--mem=2G",
        "--",
        *args,
        "--output",
        "out/scores.jsonl",
        env={"SFTKIT_ALLOW_CPU": "1"},
    )  # fake GPUs, CPU torch
    assert wait_done(ids["merge"]) == "COMPLETED", "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    markers = [json.loads(p.read_text()) for p in (tmp_path / "out/scores.jsonl.parts").glob("*.done")]
    assert sorted(m["slurm_array_task_id"] for m in markers) == ["0", "1"]
    assert all(m["cuda_visible_devices"] in {"0", "1", "2", "3"} for m in markers)  # a GPU script: gres asked
    run_script("hpc/difficulty_scorer.py", *args, "--output", str(tmp_path / "local.jsonl"))
    assert (tmp_path / "out/scores.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "out/scores.responses.jsonl").exists()


def test_a_gpu_job_whose_torch_cannot_use_its_gpus_stops_at_once_naming_the_python(tmp_path: Path) -> None:
    """A job given (fake) GPUs by Slurm, run by a CPU build of torch, fails before loading anything."""
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"problem": "What is 1 + 1?", "expected_answer": "2"}) + "\n")
    ids, _ = submit(
        tmp_path,
        "filter",
        "-c",
        "1",
        "--mem=1G",
        "--",
        "--input",
        str(problems),
        "--inference-engine",
        "hf",
        "--inference-model",
        "no-such-org/no-such-model",
        "--judge",
        "never",
        "--output",
        "k.jsonl",
        env={"SFTKIT_ALLOW_CPU": "0"},
    )
    assert wait_done(ids["job"]) == "FAILED"
    log = next((tmp_path / "logs").glob(f"sftkit-filter-{ids['job']}.out")).read_text()
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in log, log
    assert "was given GPUs (CUDA_VISIBLE_DEVICES=" in errors[0] and "is a CPU build of torch" in errors[0]
    assert os.environ["SFTKIT_PYTHON"] in errors[0]
    assert "SFTKIT_CONDA_ENV" in errors[0] and "SFTKIT_ALLOW_CPU=1" in errors[0]


@pytest.mark.parametrize(
    ("split", "tp", "refusal"),
    [
        (
            ["--workers-per-task", "4", "--gres=gpu:1"],
            "1",
            "4 workers x 1 GPU(s) each need more than the 1 GPU(s) of this task (CUDA_VISIBLE_DEVICES=0)",
        ),
        (
            ["--workers-per-task", "2", "--gres=gpu:2"],
            "2",
            "each worker runs an engine on 2 GPUs (tensor x pipeline parallel) but gets 1 of this task's 2",
        ),
    ],
)
def test_workers_that_cannot_each_have_their_engines_gpus_are_refused(
    tmp_path: Path, split: list[str], tp: str, refusal: str
) -> None:
    """Before: four workers on the one GPU, or a TP2 engine squeezed onto one; now the task fails first."""
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"problem": "What is 1 + 1?", "expected_answer": "2"}) + "\n")
    ids, _ = submit(
        tmp_path,
        "filter",
        "--shards",
        split[1],
        *split,
        "-c",
        "1",
        "--mem=1G",
        "--",
        "--input",
        str(problems),
        "--inference-model",
        "no-such-org/no-such-model",
        "--inference-tp",
        tp,
        "--judge",
        "never",
        "--output",
        "k.jsonl",
    )
    assert wait_done(ids["array"]) == "FAILED"
    log = next((tmp_path / "logs").glob(f"sftkit-filter-{ids['array']}_0.out")).read_text()
    assert f"[sftkit] error: {refusal}" in log and "worker 0: pid" not in log, log


def test_workers_per_task_without_shards_is_one_job_of_that_many_workers(demo_data: Path, tmp_path: Path) -> None:
    """Before, --workers-per-task without --shards was ignored: one worker did everything."""
    ids, out = submit(
        tmp_path,
        "label_filter",
        "--workers-per-task",
        "2",
        "--gres=gpu:2",
        "-c",
        "2",
        "--mem=1G",
        "--",
        "--input",
        str(demo_data),
        "--filter-by-pass-rate",
        "0.4",
        "--output",
        "out/f.jsonl",
    )
    assert "merge job" not in out and "2 workers on 2 shards" in out
    assert wait_done(ids["job"]) == "COMPLETED"
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "out/f.jsonl.parts").glob("*.done"))]
    assert [(m["shard"], m["cuda_visible_devices"]) for m in markers] == [
        ("part-00000-of-00002", "0"),
        ("part-00001-of-00002", "1"),
    ]
    assert markers[0]["vllm_port"] != markers[1]["vllm_port"]
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)  # merged by the job
    log = (tmp_path / "logs" / f"sftkit-label-filter-{ids['job']}.out").read_text()
    assert "worker 1: pid" in log and "merged 2 shards" in log


def test_workers_per_task_without_shards_runs_locally_too(demo_data: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "label_filter",
            "--workers-per-task",
            "3",
            "--",
            "--input",
            str(demo_data),
            "--filter-by-pass-rate",
            "0.4",
            "--output",
            "out/f.jsonl",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(list((tmp_path / "out/f.jsonl.parts").glob("*-of-00003.done"))) == 3
    assert (tmp_path / "out/f.jsonl").read_bytes() == reference(tmp_path, demo_data)
    refused = subprocess.run(
        [
            str(REPO / "slurm/submit.sh"),
            "--local",
            "length_selector",
            "--workers-per-task",
            "2",
            "--",
            "--input",
            str(demo_data),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "not a sharded stage; drop --workers-per-task" in refused.stderr


def test_the_time_limit_mid_chunk_requeues_and_resumes_to_the_uninterrupted_output(tmp_path: Path) -> None:
    """A 2-minute limit with a 30 s lead (SFTKIT_SIGNAL_LEAD; Slurm sends it 30-60 s before the limit)
    against a scripted model answering each request in 10 s, two at a time: each task's one chunk needs
    100 s, so USR1 comes mid-chunk. The task saves what finished, is requeued, sends only the rest, and
    the merge equals an uninterrupted local run against the same server."""
    from collections import Counter

    from servers import scripted

    seeds = write_seeds(tmp_path / "seeds.jsonl", 40)
    with scripted(slow_script(40, delay=10), tmp_path) as (url, log):
        ids, _ = submit(
            tmp_path,
            "generate",
            "--shards",
            "2",
            "-c",
            "1",
            "--mem=1G",
            "--time=2",
            "--",
            *generate_args(seeds, url, tmp_path / "out/gen.jsonl"),
            env={"SFTKIT_SIGNAL_LEAD": "30"},
        )
        local = subprocess.Popen(
            [
                str(REPO / "slurm/submit.sh"),
                "--local",
                "generate",
                "--shards",
                "2",
                "--",
                *generate_args(seeds, url, tmp_path / "ref/gen.jsonl"),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        state = wait_done(ids["merge"], timeout=420)
        logs = "".join(p.read_text() for p in sorted((tmp_path / "logs").iterdir()))
        assert state == "COMPLETED", logs
        assert local.wait(timeout=120) == 0, local.stdout.read()
        sent = Counter(json.loads(line)["request"]["messages"][-1]["content"] for line in log.open())
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "out/gen.jsonl.parts").glob("*.done"))]
    restarts = sum(int(m["slurm_restart_count"]) for m in markers)
    assert restarts >= 2 and all(m["slurm_restart_count"] != "0" for m in markers), logs  # both tasks hit it
    assert logs.count("after SIGUSR1") >= 2 and "requeueing" in logs and "of the chunk at row" in logs
    assert (tmp_path / "out/gen.jsonl").read_bytes() == (tmp_path / "ref/gen.jsonl").read_bytes()
    # every prompt went once to the reference run and once to Slurm; only those in flight at a stop
    # (two per stop) went twice, never one that had finished
    assert len(sent) == 40 and min(sent.values()) == 2, sent
    assert sum(n - 2 for n in sent.values()) <= 2 * restarts, sent


def test_both_stages_run_sharded_on_the_real_slurm(slurm, demo_data: Path, tmp_path: Path) -> None:
    """Two array tasks each, then the merge job, through slurm/submit.sh: the same bytes as one local run."""
    bench = str(REPO / "data/benchmarks/demo_bench.jsonl")
    runs = {
        "dedup": ("selectors/dedup.py", ["--verify"], (".dups.jsonl",)),
        "decontaminate": ("selectors/decontaminate.py", ["--benchmark", bench], (".contaminated.jsonl",)),
    }
    jobs = {
        stage: submit(
            tmp_path,
            stage,
            "--shards",
            "2",
            *SMALL,
            "--",
            "--input",
            str(demo_data),
            *extra,
            "--output",
            f"out/{stage}.jsonl",
        )[0]
        for stage, (_, extra, _) in runs.items()
    }
    for stage, (script, extra, side) in runs.items():
        assert wait_done(jobs[stage]["merge"]) == "COMPLETED", stage
        markers = [json.loads(p.read_text()) for p in (tmp_path / f"out/{stage}.jsonl.parts").glob("*.done")]
        assert sorted(m["slurm_array_task_id"] for m in markers) == ["0", "1"]
        run_script(script, "--input", str(demo_data), *extra, "--output", str(tmp_path / f"{stage}.jsonl"))
        for suffix in ("", *side):
            assert (tmp_path / f"out/{stage}.jsonl{suffix}").read_bytes() == (
                tmp_path / f"{stage}.jsonl{suffix}"
            ).read_bytes(), (stage, suffix)
    dups = (tmp_path / "dedup.jsonl.dups.jsonl").read_text().splitlines()
    assert len(dups) >= 30  # the demo data's planted duplicates


def test_dedup_partitioned_merge_runs_as_a_chain_of_arrays(demo_data: Path, tmp_path: Path) -> None:
    """submit.sh dedup --shards 2 --merge-tasks 2: the shard array, then one array per merge step, each after
    the one before succeeded; the same bytes as one local run."""
    ids, out = submit(
        tmp_path,
        "dedup",
        "--shards",
        "2",
        "--merge-tasks",
        "2",
        *SMALL,
        "--",
        "--input",
        str(demo_data),
        "--output",
        "out/d.jsonl",
    )
    steps = dict(re.findall(r"(\w+)=(\d+)", out.split("merge steps (array jobs):")[1].splitlines()[0]))
    assert list(steps) == ["pairs", "clusters", "facts", "write", "finish"] and steps["finish"] == ids["merge"]
    assert wait_done(ids["merge"]) == "COMPLETED", out
    assert len(list((tmp_path / "logs").glob(f"sftkit-merge-dedup-pairs-{steps['pairs']}_*.out"))) == 2
    run_script("selectors/dedup.py", "--input", str(demo_data), "--output", str(tmp_path / "d.jsonl"))
    for suffix in ("", ".dups.jsonl"):
        assert (tmp_path / f"out/d.jsonl{suffix}").read_bytes() == (tmp_path / f"d.jsonl{suffix}").read_bytes()
