"""The gold log-probability scorer without a model: an out-of-memory batch is halved after its memory is freed."""

import sys

import pytest
import torch

from sftkit.difficulty.logprob import GoldLogprob, GoldLogprobScorer

pytestmark = pytest.mark.unit


def test_halves_of_an_out_of_memory_batch_run_after_its_memory_is_released() -> None:
    """No model: a scripted forward pass that fits two items, and records whether an exception (whose
    traceback would pin the failed batch's activations) is still being handled when it runs."""
    scorer = GoldLogprobScorer.__new__(GoldLogprobScorer)
    scorer.device = "cpu"
    encoded = [([1, 2], [10 + i] * (i + 1), i == 4) for i in range(5)]
    calls = []

    def small_memory(items: list[tuple[list[int], list[int], bool]]) -> list[GoldLogprob]:
        calls.append((len(items), sys.exc_info()))
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return [GoldLogprob(-sum(a) / len(a), len(a), cut) for _, a, cut in items]

    scorer._forward = small_memory
    results: dict[int, GoldLogprob] = {}
    scorer._run(list(range(5)), encoded, results)
    assert [results[i] for i in range(5)] == [GoldLogprob(-10.0 - i, i + 1, i == 4) for i in range(5)]
    assert [n for n, _ in calls] == [5, 2, 3, 1, 2]
    assert all(info == (None, None, None) for _, info in calls)
