import itertools
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftkit.data.shards import parse_fraction, resolve_shard, shard_of
from sftkit.errors import InputError

pytestmark = pytest.mark.unit


@given(num_rows=st.integers(0, 5_000_000), num_shards=st.integers(1, 300))
def test_index_shards_tile_every_row_exactly_once(num_rows: int, num_shards: int) -> None:
    ranges = [shard_of(i, num_shards, "t").rows(num_rows) for i in range(num_shards)]
    assert ranges[0].start == 0 and ranges[-1].stop == num_rows
    for prev, nxt in itertools.pairwise(ranges):
        assert prev.stop == nxt.start
    assert sum(len(r) for r in ranges) == num_rows
    assert max(len(r) for r in ranges) - min(len(r) for r in ranges) <= 1


@given(num_rows=st.integers(0, 5_000_000), cuts=st.lists(st.integers(1, 9999), unique=True, max_size=12).map(sorted))
def test_percentage_ranges_that_tile_zero_to_one_cover_every_row_once(num_rows: int, cuts: list[int]) -> None:
    points = ["0", *(f"0.{c:04d}" for c in cuts), "1"]
    ranges = [resolve_shard(None, a, b, env={}).rows(num_rows) for a, b in itertools.pairwise(points)]
    # contiguous, starting at 0 and ending at N: every row in exactly one range
    assert ranges[0].start == 0 and ranges[-1].stop == num_rows
    assert all(p.stop == n.start and p.start <= p.stop for p, n in itertools.pairwise(ranges))


def test_fractions_are_exact_decimals() -> None:
    assert parse_fraction("0.29", "--x") == Fraction(29, 100)
    assert resolve_shard(None, "0", "0.29", env={}).rows(100) == range(0, 29)
    with pytest.raises(InputError, match="between 0 and 1"):
        parse_fraction("50", "--end-at-percentage")
    with pytest.raises(InputError, match="not a number"):
        parse_fraction("half", "--end-at-percentage")


def test_slurm_array_environment_picks_the_shard() -> None:
    env = {
        "SLURM_ARRAY_TASK_ID": "2",
        "SLURM_ARRAY_TASK_COUNT": "4",
        "SLURM_ARRAY_TASK_MIN": "0",
        "SLURM_ARRAY_TASK_MAX": "3",
    }
    shard = resolve_shard(None, None, None, env=env)
    assert (shard.index, shard.count, shard.name) == (2, 4, "part-00002-of-00004")
    assert shard.rows(10) == range(5, 7)


def test_resubmitted_subset_of_an_array_needs_the_total() -> None:
    env = {
        "SLURM_ARRAY_TASK_ID": "3",
        "SLURM_ARRAY_TASK_COUNT": "1",
        "SLURM_ARRAY_TASK_MIN": "3",
        "SLURM_ARRAY_TASK_MAX": "3",
    }
    with pytest.raises(InputError, match="SFTKIT_NUM_SHARDS"):
        resolve_shard(None, None, None, env=env)
    shard = resolve_shard(None, None, None, env={**env, "SFTKIT_NUM_SHARDS": "8"})
    assert (shard.index, shard.count) == (3, 8)


def test_flags_win_over_slurm_and_conflicts_are_errors() -> None:
    env = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}
    assert resolve_shard("1/3", None, None, env=env).index == 1
    assert resolve_shard(None, None, None, env={}).is_whole
    with pytest.raises(InputError, match="either"):
        resolve_shard("1/3", "0", "0.5", env={})
    with pytest.raises(InputError, match="out of range"):
        resolve_shard("3/3", None, None, env={})


def test_several_workers_per_array_task_each_get_their_own_shard() -> None:
    base = {
        "SLURM_ARRAY_TASK_COUNT": "3",
        "SLURM_ARRAY_TASK_MIN": "0",
        "SLURM_ARRAY_TASK_MAX": "2",
        "SFTKIT_WORKERS_PER_TASK": "4",
    }
    names = {
        resolve_shard(None, None, None, env={**base, "SLURM_ARRAY_TASK_ID": str(t), "SFTKIT_WORKER_INDEX": str(w)}).name
        for t in range(3)
        for w in range(4)
    }
    assert names == {f"part-{i:05d}-of-00012" for i in range(12)}
    single = resolve_shard(None, None, None, env={"SFTKIT_WORKERS_PER_TASK": "2", "SFTKIT_WORKER_INDEX": "1"})
    assert (single.index, single.count) == (1, 2)
    with pytest.raises(InputError, match="not below"):
        resolve_shard(None, None, None, env={"SFTKIT_WORKERS_PER_TASK": "2", "SFTKIT_WORKER_INDEX": "2"})
