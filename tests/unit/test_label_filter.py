"""Pass-rate labels: strings and numbers parsed, garbage a bad label."""

import math

import pytest

from sftkit.select.label_filter import BadLabel, parse_pass_rate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.25", 0.25),
        ("1", 1.0),
        ("0", 0.0),
        (" 0.5 ", 0.5),
        (1, 1.0),
        (0.03125, 0.03125),
        ("n/a", None),
        ("N/A", None),
        ("", None),
        (None, None),
        (math.nan, None),
    ],
)
def test_pass_rates_parse_from_strings_and_numbers(value: object, expected: float | None) -> None:
    assert parse_pass_rate(value) == expected


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1", True, [0.5]])
def test_garbage_pass_rates_are_bad_labels(value: object) -> None:
    with pytest.raises(BadLabel):
        parse_pass_rate(value)
