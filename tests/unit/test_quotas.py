import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftkit.select.quotas import allocate, apportion, half_gaussian_weights

pytestmark = pytest.mark.unit


@given(total=st.integers(0, 10**7), bins=st.integers(1, 40), sharpness=st.floats(0, 8))
def test_apportioned_quotas_sum_exactly_to_the_total(total: int, bins: int, sharpness: float) -> None:
    quotas = apportion(total, half_gaussian_weights(bins, sharpness))
    assert quotas.sum() == total
    assert (quotas >= 0).all()


@given(
    total=st.integers(0, 5000),
    available=st.lists(st.integers(0, 800), min_size=1, max_size=20),
    sharpness=st.floats(0, 6),
)
def test_allocation_respects_capacity_and_sums_to_min_of_total_and_rows(
    total: int, available: list[int], sharpness: float
) -> None:
    avail = np.array(available)
    quotas = allocate(total, half_gaussian_weights(len(avail), sharpness), avail)
    assert quotas.sum() == min(total, avail.sum())
    assert (quotas <= avail).all() and (quotas >= 0).all()


def test_longest_bin_gets_the_most_and_sharpness_shapes_the_curve() -> None:
    gentle, sharp = half_gaussian_weights(6, 1.0), half_gaussian_weights(6, 4.0)
    assert np.all(np.diff(gentle) > 0) and gentle[-1] == 1.0
    assert gentle[0] / gentle[-1] > 0.5 > sharp[0] / sharp[-1]
    quotas = apportion(1000, half_gaussian_weights(6, 2.0))
    assert quotas.argmax() == 5 and np.all(np.diff(quotas) >= 0)
    assert np.all(half_gaussian_weights(4, 0.0) == 1.0)


def test_surplus_goes_to_the_nearest_neighbour_first() -> None:
    # the longest bin holds only 10 rows; its surplus lands in bin 4 before anything else
    weights = half_gaussian_weights(6, 2.0)
    ideal = apportion(600, weights)
    quotas = allocate(600, weights, np.array([1000, 1000, 1000, 1000, 1000, 10]))
    assert quotas[5] == 10
    assert quotas[4] == ideal[4] + ideal[5] - 10
    assert (quotas[:4] == ideal[:4]).all()
