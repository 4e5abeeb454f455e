"""The embedding engine path of semdedup and decontaminate --semantic, for real: a tiny random BERT built
offline (a word-piece vocabulary and one layer; seconds) run by sentence-transformers, and a static
model2vec model made from random vectors with the same tokenizer; and vLLM's pooling runner on the
cached tiny Llama."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_command, run_script

pytestmark = pytest.mark.models

WORDS = [
    "what",
    "is",
    "the",
    "sum",
    "of",
    "two",
    "and",
    "three",
    "a",
    "train",
    "leaves",
    "at",
    "noon",
    "how",
    "many",
    "apples",
    "are",
    "left",
    "prove",
    "that",
]
ROWS = [
    "What is the sum of two and three?",
    "A train leaves at noon.",
    "How many apples are left?",
    "What is the sum of two and three?",  # the same text as the first: cosine 1 with any model
    "Prove that two is a sum.",
]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-wide BERT with random weights and a word-piece tokenizer of the test's words."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = {
        t: k for k, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "?", ".", *dict.fromkeys(WORDS)])
    }
    wordpiece = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_static(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model2vec static model: a random 16-d vector per token of the tiny BERT's tokenizer."""
    from model2vec import StaticModel
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert).backend_tokenizer
    vectors = np.random.default_rng(0).normal(size=(tokenizer.get_vocab_size(), 16)).astype(np.float32)
    folder = tmp_path_factory.mktemp("tiny-static")
    StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    ("backend", "model", "dim"), [("sentence-transformers", "tiny_bert", 32), ("model2vec", "tiny_static", 16)]
)
def test_a_model_embeds_the_rows_and_the_merge_removes_the_copy(
    backend: str, model: str, dim: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = request.getfixturevalue(model)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{k}", "problem": t}) + "\n" for k, t in enumerate(ROWS)))
    out = tmp_path / "out.jsonl"
    args = ["--input", str(data), "--embedding-model", str(path), "--embedding-backend", backend]
    run_command(
        "selectors/semdedup.py", *args, "--threshold", "0.9999", "--output", str(out), env={"HF_HUB_OFFLINE": "1"}
    )
    vectors = np.load(next((tmp_path / "out.jsonl.parts").glob("*.embedding.npy")))
    assert vectors.shape == (5, dim) and vectors.dtype == np.float16
    assert np.allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1, atol=2e-3)
    assert len({v.tobytes() for v in vectors}) == 4  # a vector per text: the model did embed them
    audit = [json.loads(line) for line in Path(f"{out}.dups.jsonl").read_text().splitlines()]
    assert [(a["id"], a["duplicate_of"]) for a in audit] == [("r3", "r0")] and audit[0]["cosine"] > 0.999
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["r0", "r1", "r2", "r4"]


def test_semantic_decontamination_embeds_the_benchmark_with_the_model(tiny_bert: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"unique_id": "t/1", "problem": "How many apples are left?"}) + "\n")
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{k}", "problem": t}) + "\n" for k, t in enumerate(ROWS)))
    out = tmp_path / "clean.jsonl"
    run_command(
        "selectors/decontaminate.py",
        *("--input", str(data), "--benchmark", f"{bench}:problem", "--ngram", "20", "--semantic"),
        *("--embedding-model", str(tiny_bert), "--threshold", "0.9999", "--output", str(out)),
        env={"HF_HUB_OFFLINE": "1"},
    )
    hits = [json.loads(line) for line in Path(f"{out}.contaminated.jsonl").read_text().splitlines()]
    assert [(h["id"], h["item"]) for h in hits] == [("r2", "t/1")] and hits[0]["cosine"] > 0.999


def test_vllm_pooling_runner_embeds_with_the_tiny_llama(tiny_model: Path, tmp_path: Path) -> None:
    """--embedding-backend vllm: the tiny Llama through LLM(runner="pooling").embed (a causal LM pooled
    as an embedder), its vectors in the part, the copy removed. About 40 s: vLLM's CPU engine start. In its own
    process: a second in-process vLLM engine would tear down the parallel state the session's engine uses."""
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{k}", "problem": t}) + "\n" for k, t in enumerate(ROWS)))
    out = tmp_path / "out.jsonl"
    args = ["--input", str(data), "--embedding-model", str(tiny_model), "--embedding-backend", "vllm"]
    run_script("selectors/semdedup.py", *args, "--threshold", "0.9999", "--output", str(out))
    vectors = np.load(next((tmp_path / "out.jsonl.parts").glob("*.embedding.npy")))
    assert vectors.shape[0] == 5 and vectors.dtype == np.float16 and len({v.tobytes() for v in vectors}) == 4
    audit = [json.loads(line) for line in Path(f"{out}.dups.jsonl").read_text().splitlines()]
    assert [(a["id"], a["duplicate_of"]) for a in audit] == [("r3", "r0")]
