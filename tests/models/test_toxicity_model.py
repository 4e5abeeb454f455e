"""clean --toxicity-model through its engine path: a tiny random sequence classifier, built here offline."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from helpers import run_command

pytestmark = pytest.mark.models


def _tiny_classifier(path: Path) -> Path:
    """A 2-layer BERT with random weights and a word-level tokenizer: the engine path, not a judgement."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        *["the", "a", "sky", "is", "blue", "you", "are", "bad", "good", "why", "because"],
    ]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(words), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, num_labels=2, id2label={0: "non-toxic", 1: "toxic"},
        label2id={"non-toxic": 0, "toxic": 1},
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_a_toxicity_model_scores_flags_and_drops_rows(tmp_path: Path) -> None:
    model = _tiny_classifier(tmp_path / "tox")
    rows = [{"id": i, "q": q, "a": ""} for i, q in enumerate(
        ["why is the sky blue", "you are bad", "you are good", "the sky is a sky", "why are you bad"]
    )]  # fmt: skip
    data = tmp_path / "rows.jsonl"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    args = ["--input", str(data), "--question-field", "q", "--answer-field", "a", "--toxicity-model", str(model)]
    run_command("selectors/clean.py", *args, "--toxicity", "flag", "--output", str(tmp_path / "flag.jsonl"))
    flagged = [orjson.loads(line) for line in (tmp_path / "flag.jsonl").read_bytes().splitlines()]
    scores = sorted(r["toxicity_score"] for r in flagged)
    assert len(flagged) == 5 and all(0 < s < 1 for s in scores) and scores[0] < scores[-1]
    cut = (scores[1] + scores[2]) / 2
    out = tmp_path / "drop.jsonl"
    run_command(
        "selectors/clean.py", *args, "--toxicity", "drop", "--toxicity-threshold", str(cut), "--output", str(out)
    )
    kept = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(r["toxicity_score"] for r in kept) == scores[:2]
    counts = json.loads(Path(f"{out}.stats.json").read_text())["counts"]
    assert counts["dropped:toxicity_model"] == 3
