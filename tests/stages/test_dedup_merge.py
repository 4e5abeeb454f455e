"""The partitioned dedup merge: every shard count x merge-task count writes the bytes of one unsharded run
(capped buckets, --against, --verify, --keep-by included), and its steps resume (the real Slurm chain:
tests/cluster/test_slurm.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import random_text, swap_words

from sftkit.commands import dedup
from sftkit.errors import InputError

pytestmark = pytest.mark.stages


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> tuple[Path, Path]:
    """Near and exact copies, a template family of 300 variants (band buckets over the cap of 256), and a
    reference set holding copies of some rows, of the family, and of itself."""
    rng = random.Random(3)
    base = [random_text(rng, rng.randrange(20, 50)) for _ in range(120)]
    data = [{"id": f"b{i}", "q": t, "s": "x" * rng.randrange(1, 40)} for i, t in enumerate(base)]
    for i in range(150):
        k = rng.choice([0, 1, 2, 4])
        src = rng.choice(base)
        data.append({"id": f"c{i}", "q": swap_words(rng, src, k) if k else src, "s": "y" * rng.randrange(1, 40)})
    template = random_text(rng, 150)
    data += [{"id": f"t{i}", "q": swap_words(rng, template, 1), "s": "z" * rng.randrange(1, 60)} for i in range(300)]
    rng.shuffle(data)
    ref = [{"id": f"r{i}", "q": swap_words(rng, rng.choice(base), rng.choice([0, 1]))} for i in range(40)]
    ref += [dict(ref[0], id="r-copy"), {"id": "r-t", "q": swap_words(rng, template, 1)}]
    folder = tmp_path_factory.mktemp("pmerge")
    for name, lines in (("in.jsonl", data), ("ref.jsonl", ref)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder / "in.jsonl", folder / "ref.jsonl"


def _run(data: Path, out: Path, shards: int, tasks: int, *flags: str) -> tuple[bytes, bytes, dict]:
    """The stage in this process: the shards, then the merge's steps one after another."""
    args = ["--input", str(data), "--question-field", "q", "--output", str(out), "--merge-tasks", str(tasks), *flags]
    if shards == 1:
        dedup.main(args)
    else:
        for i in range(shards):
            dedup.main([*args, "--shard", f"{i}/{shards}"])
        dedup.main([*args, "--merge"])
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    return out.read_bytes(), Path(f"{out}.dups.jsonl").read_bytes(), stats


@pytest.mark.parametrize(
    "flags",
    [[], ["--against", "REF", "--verify", "--keep-by", "s:length:desc"]],
    ids=["default", "against-verify-keep-by"],
)
def test_every_shard_and_task_count_writes_the_unsharded_bytes(rows, tmp_path: Path, flags: list[str]) -> None:
    data, ref = rows
    flags = [str(ref) if f == "REF" else f for f in flags]
    kept, audit, stats = _run(data, tmp_path / "one.jsonl", 1, 1, *flags)
    assert stats["rows_in_capped_buckets"] > 0 and stats["near_duplicates"] > 100 and stats["exact_duplicates"] > 10
    if flags:
        assert stats["against_reference"] > 0 and b'"id":"r-copy"' not in audit  # never deduplicated itself
    grid = [(s, m) for s in (1, 2, 3) for m in (1, 2, 4) if (s, m) != (1, 1)]
    combos = [*grid, (1, 13)] if not flags else [(2, 2), (3, 4)]  # 13 tasks > bands + 1: two key ranges a band
    for shards, tasks in combos:
        out = tmp_path / f"{shards}x{tasks}.jsonl"
        assert _run(data, out, shards, tasks, *flags)[:2] == (kept, audit), (shards, tasks)
        assert not Path(f"{out}.merge").exists()  # the step files go once the output is written


def test_merge_steps_run_one_by_one_resume_and_refuse_out_of_order(rows, tmp_path: Path, capsys) -> None:
    data, _ = rows
    kept, audit, _ = _run(data, tmp_path / "one.jsonl", 1, 1)
    out = tmp_path / "steps.jsonl"
    args = ["--question-field", "q", "--output", str(out), "--merge-tasks", "3"]
    for i in range(2):
        dedup.main(["--input", str(data), *args, "--shard", f"{i}/2"])
    merge = [*args, "--merge"]
    with pytest.raises(Exception, match="step 'pairs' is not done for task"):
        dedup.main([*merge, "--merge-step", "clusters"])
    for t in range(3):
        dedup.main([*merge, "--merge-step", "pairs", "--merge-task", str(t)])
    dedup.main([*merge, "--merge-step", "clusters"])
    folder = Path(f"{out}.merge")
    (folder / "pairs-00001.done.json").unlink()  # task 1 killed before its marker: it alone runs again
    dedup.main([*merge, "--verify", "--merge-step", "pairs", "--merge-task", "0"])  # other flags:
    fingerprints = [json.loads((folder / f"pairs-{t:05d}.done.json").read_text())["fingerprint"] for t in (0, 2)]
    assert fingerprints[0] != fingerprints[1]  # its own fingerprint, so the merge below redoes task 0
    capsys.readouterr()
    dedup.main(merge)
    err = capsys.readouterr().err
    assert "pairs 2 already done" in err and "pairs 1 already done" not in err and "pairs 0 already done" not in err
    assert "clusters 0 already done" in err  # a task's output depends on the fingerprint only
    assert (out.read_bytes(), Path(f"{out}.dups.jsonl").read_bytes()) == (kept, audit)
    with pytest.raises(Exception, match="--merge-task 5"):
        dedup.main([*merge, "--merge-step", "write", "--merge-task", "5"])


def test_a_task_whose_file_was_deleted_runs_again(rows, tmp_path: Path, capsys) -> None:
    """A marker stands for its files: with one of them gone, the task is not done (no traceback in the
    next step), and rerunning it restores the bytes."""
    data, _ = rows
    out = tmp_path / "gone.jsonl"
    args = ["--input", str(data), "--question-field", "q", "--output", str(out), "--merge-tasks", "2"]
    dedup.main([*args, "--shard", "0/1"])
    merge = [*args[2:], "--merge"]
    for t in range(2):
        dedup.main([*merge, "--merge-step", "pairs", "--merge-task", str(t)])
    (Path(f"{out}.merge") / "edges-00001.npy").unlink()
    with pytest.raises(Exception, match="step 'pairs' is not done for task"):
        dedup.main([*merge, "--merge-step", "clusters"])
    capsys.readouterr()
    dedup.main(merge)
    assert "pairs 1 already done" not in capsys.readouterr().err
    kept, audit, _ = _run(data, tmp_path / "one.jsonl", 1, 1)
    assert (out.read_bytes(), Path(f"{out}.dups.jsonl").read_bytes()) == (kept, audit)


def test_a_file_in_place_of_the_step_folder_is_one_line(rows, tmp_path: Path) -> None:
    data, _ = rows
    out = tmp_path / "blocked.jsonl"
    args = ["--input", str(data), "--question-field", "q", "--output", str(out)]
    dedup.main([*args, "--shard", "0/2"])
    dedup.main([*args, "--shard", "1/2"])
    Path(f"{out}.merge").write_text("not a folder")
    with pytest.raises(InputError, match="step folder is a file"):
        dedup.main([*args[2:], "--merge", "--merge-step", "pairs"])
