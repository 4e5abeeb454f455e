"""Length selection as a function: uniform picks within a bin, quotas, the second pass for missing rows."""

from pathlib import Path

import numpy as np
import pytest

from sftkit.data.sources import InputSpec, open_source
from sftkit.select.length import plan_selection, select_by_length

pytestmark = pytest.mark.unit


def test_within_a_bin_every_position_in_the_stream_is_equally_likely() -> None:
    n, q, seeds = 400, 40, 1500
    indices, lengths = np.arange(n), np.full(n, 10)
    hits = np.zeros(n)
    for seed in range(seeds):
        hits[plan_selection(indices, lengths, q, 1, 2.0, seed).selected] += 1
    expected = seeds * q / n
    chi2 = ((hits - expected) ** 2 / expected).sum()
    assert chi2 < n + 5 * np.sqrt(2 * n)  # chi-square with n-1 dof, 5 sigma
    # no bias towards the head or tail of the stream (a biased reservoir fails this)
    assert abs(hits[: n // 10].mean() - hits[-n // 10 :].mean()) < 0.15 * expected


def test_quotas_sum_to_total_and_favour_long_answers() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.lognormal(6, 1, 20_000).astype(int) + 1
    plan = plan_selection(np.arange(20_000), lengths, 3000, 6, 2.0, seed=1)
    assert plan.quotas.sum() == len(plan.selected) == 3000
    per_bin = np.bincount(np.searchsorted(plan.edges, plan.selected_lengths, side="right"), minlength=6)
    assert per_bin.tolist() == plan.quotas.tolist()
    assert np.all(np.diff(per_bin) > 0)
    assert np.all(np.abs(plan.available - 20_000 / 6) < 0.02 * 20_000 / 6)  # quantile bins (ties aside)


def test_rows_missing_from_the_pool_are_fetched_in_a_second_pass(demo_data: Path) -> None:
    source = open_source(InputSpec(str(demo_data)))
    args = dict(
        measure=lambda b: b.char_lengths("generated_solution"),
        total=500,
        num_bins=6,
        sharpness=2.0,
        seed=3,
        id_field="id",
        on_bad_record="error",
        field_name="generated_solution",
        batch_size=128,
    )
    roomy = select_by_length(source, **args)
    tiny = select_by_length(source, **args, pool_cap=20)
    assert roomy.second_pass == 0 and tiny.second_pass > 0
    assert [r["id"] for r in tiny.records] == [r["id"] for r in roomy.records]
    assert tiny.records == roomy.records
