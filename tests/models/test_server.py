"""A real vLLM server (CPU build) sampling what the local vLLM engine samples, seed by seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftkit.engines.base import ChatOptions, Sampling
from sftkit.engines.openai_compat import OpenAIEngine

pytestmark = pytest.mark.models


def test_sampled_requests_to_a_vllm_server_draw_what_the_local_vllm_engine_draws(
    tiny_model: Path, vllm_engine: object
) -> None:
    """Temperature 0.7, n=2: the real vLLM CPU server, sent each prompt's own seed, samples what the local
    engine samples with --seed-mode request (one seed for all would draw alike for every prompt)."""
    from servers import free_port, serve, vllm_server

    convs = [[{"role": "user", "content": f"What is {i} + {i + 3}? Explain."}] for i in range(4)]
    sampling = Sampling(max_tokens=24, temperature=0.7, n=2, seed=3)
    port = free_port()
    with serve(vllm_server(str(tiny_model), port), port) as url:
        served = OpenAIEngine(str(tiny_model), ChatOptions(enable_thinking=False), url).generate(convs, sampling)
    local = vllm_engine.generate(convs, sampling)
    # the server drops the tiny tokenizer's special <think> tags from its text (see tests/models/test_engines.py)
    untag = lambda text: text.replace("<think>", "").replace("</think>", "")  # noqa: E731
    assert [[s.text for s in c.samples] for c in served] == [[untag(s.text) for s in c.samples] for c in local]
    assert len({s.text for c in served for s in c.samples}) > 2  # sampled, not greedy
