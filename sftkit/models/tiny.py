"""Build a tiny Llama (fp32) and its tokenizer offline, trained briefly on arithmetic Q/A.

Tests, the demo and CPU benchmarks need real models but cannot download any. This makes one in
seconds: a byte-level BPE tokenizer with a Qwen3-style chat template (``enable_thinking``; an assistant
turn's ``reasoning_content`` rendered as a ``<think>`` block; tools in a system turn, tool calls as
``<tool_call>`` blocks; the assistant's text inside ``{% generation %}`` markers, so TRL's
``assistant_only_loss`` can mask everything else), and a
Llama small enough for CPU yet with head_dim >= 32 (vLLM's CPU attention supports 32 to 512).
A few hundred training steps make its answers non-uniform: it learns the chat format and to end
with ``\\boxed{}``, and gets some sums right.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{%- if tools %}{{ '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{ '# Tools\\n' }}{%- for t in tools %}{{ (t | tojson) + '\\n' }}{%- endfor %}{{ '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in messages %}{%- if not (tools and loop.first and m['role'] == 'system') %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' }}"
    "{%- if m['role'] == 'assistant' %}{% generation %}"
    "{%- if m['reasoning_content'] is string and m['reasoning_content'] %}"
    "{{ '<think>\\n' + m['reasoning_content'] + '\\n</think>\\n\\n' }}{%- endif %}"
    "{{ m['content'] or '' }}"
    "{%- for c in m['tool_calls'] or [] %}{%- set f = c['function'] if c['function'] is defined else c %}"
    "{{ '<tool_call>\\n{\"name\": \"' + f['name'] + '\", \"arguments\": ' }}"
    "{{ f['arguments'] if f['arguments'] is string else f['arguments'] | tojson }}{{ '}\\n</tool_call>' }}"
    "{%- endfor %}{{ '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else %}{{ m['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and not enable_thinking %}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]


@dataclass(frozen=True)
class TinySpec:
    hidden: int = 128
    layers: int = 2
    heads: int = 4  # head_dim = hidden / heads = 32
    steps: int = 300
    seed: int = 0
    vocab: int = 400


def _example(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(0, 50), rng.randint(0, 50)
    if rng.random() < 0.5:
        reasoning = f"<think>\n{a} plus {b} is {a + b}.\n</think>\n\n"
        return f"What is {a} + {b}?", reasoning + f"The answer is \\boxed{{{a + b}}}."
    return f"Compute {a} times 2.", f"<think>\nDouble {a}.\n</think>\n\nThe answer is \\boxed{{{2 * a}}}."


def _seed_task(rng: random.Random) -> tuple[str, str]:
    """The default generation prompt, answered in its tagged blocks: so the demo and tests get some parseable output."""
    from sftkit.generate.seed import DEFAULT_PROMPT
    from sftkit.prompts import fill

    a, b, c, d = (rng.randint(0, 50) for _ in range(4))
    prompt = fill(DEFAULT_PROMPT, {"question": f"What is {a} + {b}?", "answer": a + b})
    empty_think = "<think>\n\n</think>\n\n" if rng.random() < 0.5 else ""  # as with enable_thinking=False
    return prompt, empty_think + f"<question>What is {c} + {d}?</question>\n<answer>{c + d}</answer>"


def _render(question: str, answer: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"


def _tokenizer(spec: TinySpec, rng: random.Random) -> tuple[Any, list[str]]:
    """The tokenizer, with its chat template, and the corpus it was trained on (the model's too)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [_render(*(_seed_task(rng) if k % 4 == 3 else _example(rng))) for k in range(4000)]
    corpus += [
        "Solve the problem. Put the final answer in \\boxed{}. Reply with JSON: "
        '{"question": "...", "answer": "..."}. VERDICT: yes no. Gold answer: candidate.'
    ] * 20
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=spec.vocab, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        chat_template=CHAT_TEMPLATE,
    )
    return tok, corpus


def tiny_tokenizer(path: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Save the tiny model's tokenizer and chat template alone (seconds, no torch): for template checks."""
    path = Path(path)
    _tokenizer(spec, random.Random(spec.seed))[0].save_pretrained(path)
    return path


def build_tiny_model(path: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Train and save a tiny chat model to ``path`` (a folder ``from_pretrained`` and vLLM load)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    rng = random.Random(spec.seed)
    tok, corpus = _tokenizer(spec, rng)
    torch.manual_seed(spec.seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden,
        intermediate_size=spec.hidden * 2,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(spec.steps):
        batch = tok([corpus[rng.randrange(4000)] for _ in range(32)], return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> None:
    from sftkit import cli

    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="folder to write the model to")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args(argv)
    cli.check_writable(args.output)  # before minutes of training on CPU, not after
    print(build_tiny_model(args.output, TinySpec(args.hidden, args.layers, args.hidden // 32, args.steps, args.seed)))


if __name__ == "__main__":
    from sftkit.cli import run_main

    run_main(main)
