"""What a resume compares: input identity, the fingerprint, parts covering every row once."""

import time
from pathlib import Path

import orjson
import pytest

from sftkit.data.checkpoint import ShardRun, fingerprint
from sftkit.data.merge import check_complete, merge
from sftkit.data.shards import parse_shard
from sftkit.data.sources import InputSpec, open_source
from sftkit.engines.base import RUNTIME_SETTINGS
from sftkit.errors import InputError
from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.unit


def test_a_hub_dataset_whose_files_change_gets_another_revision(tmp_path: Path) -> None:
    repo = tmp_path / "hub_like"
    write_dataset(repo / "data" / "train.jsonl", 50, seed=1)
    before = open_source(InputSpec(str(repo), format="hub")).identity()
    time.sleep(0.01)
    write_dataset(repo / "data" / "train.jsonl", 50, seed=2)
    after = open_source(InputSpec(str(repo), format="hub")).identity()
    assert before["rows"] == after["rows"] == 50
    assert before["revision"] != after["revision"] and fingerprint({"data": before}) != fingerprint({"data": after})


def test_parts_must_cover_every_row_exactly_once(tmp_path: Path) -> None:
    def part(i: int, rows: list[int], num_rows: int = 1000) -> dict:
        return {
            "shard": f"part-0000{i}-of-00002",
            "index": i,
            "count": 2,
            "start": f"{i}/2",
            "end": f"{i + 1}/2",
            "rows": rows,
            "num_rows": num_rows,
            "fingerprint": "f",
        }

    (tmp_path / "o.jsonl.parts").mkdir()
    for markers, why in [
        ([part(0, [0, 600]), part(1, [500, 1000])], "overlaps the rows before row 600"),
        ([part(0, [0, 400]), part(1, [500, 1000])], "rows 400-500 are in no part"),
        ([part(0, [0, 500]), part(1, [500, 1200], 1200)], "inputs of 1,000 and 1,200 rows"),
    ]:
        with pytest.raises(InputError, match=why):
            check_complete(tmp_path / "o.jsonl", markers)
    check_complete(tmp_path / "o.jsonl", [part(0, [0, 500]), part(1, [500, 1000])])


def test_engine_settings_that_change_no_result_are_not_in_the_fingerprint() -> None:
    solver = {
        "engine": "vllm",
        "model": "m",
        "tensor_parallel_size": 1,
        "pipeline_parallel_size": 1,
        "gpu_memory_utilization": 0.9,
        "dtype": "bfloat16",
        "seed": 0,
    }
    moved = {**solver, "tensor_parallel_size": 2, "gpu_memory_utilization": 0.6}

    def key(engine: dict) -> str:
        return fingerprint({"provenance": {"solver": engine}}, RUNTIME_SETTINGS)

    assert key(solver) == key(moved)
    assert key(solver) != key({**solver, "seed": 1})


def test_a_merge_refusing_odd_shards_names_what_changes_results_not_the_engine_settings(tmp_path: Path) -> None:
    """Shards on other GPUs (tp, batch size) still merge; when one differs in a setting that matters, the
    refusal names that setting, not the runtime ones around it."""
    out = tmp_path / "o.jsonl"
    for i, settings in enumerate([{"samples": 4, "tp": 1, "batch_size": 8}, {"samples": 8, "tp": 2, "batch_size": 16}]):
        run = ShardRun(out, parse_shard(f"{i}/2"), 4, "filter", settings, 10, ignore=RUNTIME_SETTINGS)
        run.add([{"a": i}], [], run.rows.stop)
        run.finish()
    with pytest.raises(InputError, match=r"other settings or input than part-00000-of-00002 \(samples 4 -> 8\)"):
        merge(out)


def test_a_run_started_under_a_stages_older_name_resumes_and_merges_under_its_one_name(tmp_path: Path) -> None:
    """The filter wrote its markers as llm_filter before the registry; a run under way then still resumes
    (a shard finished, one started, one not begun) and merges, instead of refusing its own settings."""
    out, settings = tmp_path / "o.jsonl", {"samples": 4}

    def shard(i: int, stage: str) -> ShardRun:
        return ShardRun(out, parse_shard(f"{i}/3"), 6, stage, settings, 1, ignore=RUNTIME_SETTINGS)

    done = shard(0, "llm_filter:solve")
    done.add([{"a": 0}], [], done.rows.stop)
    done.finish()
    started = shard(1, "llm_filter:solve")
    started.add([{"a": 1}], [], started.rows.start + 1)  # one checkpointed chunk, then the job was stopped
    started.lock.release()
    assert shard(0, "filter:solve").complete
    for i in (1, 2):
        run = shard(i, "filter:solve")
        run.add([{"a": f"{i} after"}], [], run.rows.stop)
        run.finish()
    merge(out)
    # shard 1 resumed from its chunk rather than starting over
    assert [orjson.loads(line)["a"] for line in out.read_text().splitlines()] == [0, 1, "1 after", "2 after"]
    fresh = tmp_path / "fresh.jsonl"  # a run begun under the one name is fingerprinted under it
    new = ShardRun(fresh, parse_shard("0/1"), 6, "filter:solve", settings, 1, ignore=RUNTIME_SETTINGS)
    assert new.fingerprint == fingerprint({"stage": "filter:solve", **settings}, RUNTIME_SETTINGS) != done.fingerprint
    with pytest.raises(InputError, match="part-00000-of-00003 was finished with different settings"):
        ShardRun(out, parse_shard("0/3"), 6, "filter:solve", {"samples": 8}, 1)  # other settings: still refused
