"""Engines tested for real: transformers and vLLM (CPU build) on a tiny offline model."""

from pathlib import Path

import pytest

from sftkit.engines.base import ChatOptions, Sampling, with_chat

pytestmark = pytest.mark.models

QUESTIONS = ["What is 12 + 30?", "Compute 7 times 2.", "What is 3 + 4?", "What is 1 + 1?", "What is 20 + 5?"]
CONVS = [[{"role": "user", "content": q}] for q in QUESTIONS]


def test_hf_engine_without_a_pad_token_still_sees_where_samples_end(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    from transformers import AutoTokenizer

    from sftkit.engines.hf import HFEngine

    no_pad = tmp_path / "no-pad"
    shutil.copytree(tiny_model, no_pad)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.pad_token = None
    tok.save_pretrained(no_pad)
    assert AutoTokenizer.from_pretrained(no_pad).pad_token is None
    greedy = Sampling(max_tokens=40)
    chat = ChatOptions(enable_thinking=False)
    with_pad = HFEngine(str(tiny_model), chat, batch_size=5, dtype="fp32").generate(CONVS, greedy)
    without = HFEngine(str(no_pad), chat, batch_size=5, dtype="fp32").generate(CONVS, greedy)
    finishes = [c.samples[0].finish_reason for c in with_pad]
    assert "stop" in finishes
    assert [c.samples[0].finish_reason for c in without] == finishes
    assert [c.samples[0].text for c in without] == [c.samples[0].text for c in with_pad]
    assert [c.samples[0].tokens for c in without] == [c.samples[0].tokens for c in with_pad]


def test_hf_samples_do_not_depend_on_batching(tiny_model: Path) -> None:
    """Each request draws from its own seed (--seed and its prompt), so batch size and order change nothing."""
    from sftkit.engines.hf import HFEngine

    chat = ChatOptions(enable_thinking=False)
    sampling = Sampling(max_tokens=30, temperature=1.0, top_p=0.95, n=2, seed=3, logprobs=True)
    alone = HFEngine(str(tiny_model), chat, batch_size=1, dtype="fp32")
    together = HFEngine(str(tiny_model), chat, batch_size=5, dtype="fp32")
    texts = [[s.text for s in c.samples] for c in alone.generate(CONVS, sampling)]
    batched = together.generate(CONVS, sampling)
    assert [[s.text for s in c.samples] for c in batched] == texts
    assert [[s.text for s in c.samples] for c in together.generate(CONVS[::-1], sampling)] == texts[::-1]
    assert len({t for pair in texts for t in pair}) > 5  # samples draw differently
    assert texts != [
        [s.text for s in c.samples]
        for c in together.generate(CONVS, Sampling(max_tokens=30, temperature=1.0, top_p=0.95, n=2, seed=4))
    ]
    assert all(s.logprob < 0 for c in batched for s in c.samples)  # the model's log-probability of its draw


LONG = [{"role": "user", "content": "What is 1 + 1? " * 200}]


def test_vllm_never_sends_a_prompt_over_the_context(vllm_engine) -> None:
    completions = vllm_engine.generate([CONVS[0], LONG, CONVS[1]], Sampling(max_tokens=8))
    assert completions[1].samples == [] and completions[1].refused.startswith("prompt has ")
    assert "the model's context is 512" in completions[1].refused
    assert [len(completions[k].samples) for k in (0, 2)] == [1, 1] and completions[0].refused is None


def test_hf_never_sends_a_prompt_over_the_context(tiny_model: Path) -> None:
    from sftkit.engines.hf import HFEngine

    hf = HFEngine(str(tiny_model), ChatOptions(enable_thinking=False), dtype="fp32", max_model_len=64)
    completions = hf.generate([CONVS[0], LONG], Sampling(max_tokens=8))
    assert len(completions[0].samples) == 1 and completions[1].samples == []
    assert "the model's context is 64" in completions[1].refused
    prompt = hf.prompt_lengths([CONVS[0]])[0]
    capped = HFEngine(str(tiny_model), ChatOptions(enable_thinking=False), dtype="fp32", max_model_len=prompt + 3)
    sample = capped.generate([CONVS[0]], Sampling(max_tokens=40))[0].samples[0]
    assert sample.tokens == 3 and sample.finish_reason == "length"  # generation stops at the context too


def test_hf_and_vllm_greedy_outputs_match(tiny_model: Path, vllm_engine) -> None:
    from sftkit.engines.hf import HFEngine

    hf = HFEngine(str(tiny_model), ChatOptions(enable_thinking=False), batch_size=2, dtype="fp32")
    greedy = Sampling(max_tokens=40, logprobs=True)
    ours, theirs = hf.generate(CONVS, greedy), vllm_engine.generate(CONVS, greedy)
    for a, b in zip(ours, theirs):
        assert a.samples[0].text == b.samples[0].text  # same tokens, batched with left padding or not
        assert a.samples[0].tokens == b.samples[0].tokens
        assert a.samples[0].logprob == pytest.approx(b.samples[0].logprob, abs=1e-3)
    assert len({c.samples[0].answer for c in ours}) > 1  # the model's outputs are not uniform
    # the tiny tokenizer marks <think> special: decoding must keep it, or reasoning would become answer
    thinking = ChatOptions()
    ours, theirs = (
        with_chat(hf, thinking).generate(CONVS, greedy),
        with_chat(vllm_engine, thinking).generate(CONVS, greedy),
    )
    assert [c.samples[0].text for c in ours] == [c.samples[0].text for c in theirs]
    reasoned = [c.samples[0] for c in ours if c.samples[0].reasoning]
    assert reasoned and all("<think>" not in s.answer and "<|im_end|>" not in s.text for s in reasoned)


def test_vllm_n_samples_seeded_and_thinking_control(tiny_model: Path, vllm_engine) -> None:
    sampling = Sampling(max_tokens=40, temperature=1.0, n=4, seed=7)
    first, again = vllm_engine.generate(CONVS[:2], sampling), vllm_engine.generate(CONVS[:2], sampling)
    assert [len(c.samples) for c in first] == [4, 4]
    assert [s.text for c in first for s in c.samples] == [s.text for c in again for s in c.samples]
    assert len({s.text for s in first[0].samples}) > 1
    desc = vllm_engine.describe()
    assert desc["engine"] == "vllm" and desc["model"] == str(tiny_model) and desc["enable_thinking"] is False


@pytest.fixture(scope="module")
def vllm_server_url(tiny_model: Path):
    from servers import free_port, serve, vllm_server

    port = free_port()
    with serve(vllm_server(str(tiny_model), port), port) as url:
        yield url


def test_openai_engine_against_a_real_vllm_server_matches_offline_vllm(
    tiny_model: Path, vllm_engine, vllm_server_url: str
) -> None:
    from sftkit.engines.openai_compat import OpenAIEngine

    remote = OpenAIEngine(str(tiny_model), ChatOptions(enable_thinking=False), vllm_server_url, concurrency=3)
    greedy = Sampling(max_tokens=40, logprobs=True)
    served, local = remote.generate(CONVS, greedy), vllm_engine.generate(CONVS, greedy)
    # `vllm serve` drops special tokens from its text, and the tiny tokenizer marks <think> special (Qwen3's
    # and DeepSeek-R1's do not); the OpenAI API has no portable switch for it, so compare without the tags
    untagged = [c.samples[0].text.replace("<think>", "").replace("</think>", "") for c in local]
    assert [c.samples[0].text for c in served] == untagged
    assert served[0].samples[0].logprob == pytest.approx(local[0].samples[0].logprob, abs=1e-3)
    assert all(not c.warnings for c in served)
    several = remote.generate(CONVS[:2], Sampling(max_tokens=20, temperature=1.0, n=3, seed=1, stop=("boxed",)))
    assert [len(c.samples) for c in several] == [3, 3]
    assert all("boxed" not in s.text for c in several for s in c.samples)


def test_openai_engine_errors_are_clear_and_client_errors_not_retried(vllm_server_url: str) -> None:
    from sftkit.engines.openai_compat import OpenAIEngine
    from sftkit.errors import InputError

    wrong = OpenAIEngine("no-such-model", ChatOptions(), vllm_server_url, retries=3)
    with pytest.raises(InputError, match="HTTP 404"):
        wrong.generate(CONVS[:1], Sampling(max_tokens=5))
    closed = OpenAIEngine("m", ChatOptions(), "http://127.0.0.1:9/v1", retries=2)
    with pytest.raises(InputError, match="after 2 attempts"):
        closed.generate(CONVS[:1], Sampling(max_tokens=5))


def test_openai_engine_tolerates_transformers_serve(tiny_model: Path) -> None:
    """`transformers serve` ignores n and logprobs and keeps the stop string: detected, reported, handled."""
    import sys

    from servers import free_port, serve

    from sftkit.engines.openai_compat import OpenAIEngine

    port = free_port()
    command = [
        str(Path(sys.executable).parent / "transformers"),
        "serve",
        str(tiny_model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]
    with serve(command, port) as url:
        remote = OpenAIEngine(str(tiny_model), ChatOptions(), url, concurrency=2)
        (done,) = remote.generate(
            CONVS[:1], Sampling(max_tokens=20, temperature=1.0, n=3, logprobs=True, stop=("boxed",))
        )
    assert len(done.samples) == 3
    assert any("returned 1 of n=3" in w for w in done.warnings)
    assert "server returned no logprobs" in done.warnings
    assert all(s.logprob is None and "boxed" not in s.text for s in done.samples)


def test_a_template_that_opens_think_is_detected(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from sftkit.engines.base import opens_reasoning

    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert not opens_reasoning(tok, ChatOptions()) and not opens_reasoning(tok, ChatOptions(enable_thinking=False))
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
    )  # R1-style
    assert opens_reasoning(tok, ChatOptions())
