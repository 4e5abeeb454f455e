"""The general generate stage from the command line, against the scripted server: long documents in token
slices with nested placeholders and a system prompt file, fan-out with lineage, a placeholder the data lacks
(one line, before any model loads), and novelty that survives a resumed shard."""

import json
from pathlib import Path

import pytest
from helpers import remote, run_command
from servers import scripted

pytestmark = pytest.mark.stages

GENERATE = "hpc/generate.py"
LONG = (
    "Photosynthesis turns light into sugar. " * 12
    + "\n```python\ndef area(r):\n    return 3.14159 * r * r\n```\n"
    + "光合作用把光能转化为化学能。" * 6
)
PAIRS = (
    '```json\n[{"question": "What does photosynthesis make?", "answer": "Sugar and oxygen."},\n'
    ' {"question": "Why is it green?" "answer": "Chlorophyll."},\n'
    ' {"question": "光合作用需要什么？", "answer": "光、水和二氧化碳。"}]\n```'
)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_documents_are_sliced_by_tokens_and_each_slice_fans_out_with_its_lineage(tmp_path: Path) -> None:
    from sftkit.generate.chunking import Chunker
    from sftkit.models.tiny import tiny_tokenizer

    tokenizer_dir = tiny_tokenizer(tmp_path / "tok")
    docs = _write(
        tmp_path / "docs.jsonl",
        [
            {"id": "bio", "text": LONG, "meta": {"title": "Biology", "lang": "English"}},
            {
                "id": "short",
                "text": "Water boils at 100 degrees Celsius at sea level.",
                "meta": {"title": "Physics", "lang": "English"},
            },
        ],
    )
    (tmp_path / "prompt.txt").write_text("Document: {{meta.title}}\n\n{{text}}\n\nWrite question-answer pairs as JSON.")
    (tmp_path / "system.txt").write_text("You write {{meta.lang}} exam questions.")
    out = tmp_path / "pairs.jsonl"
    with scripted([{"match": ["Document:"], "choices": [{"content": PAIRS}]}], tmp_path) as (url, log):
        run_command(
            GENERATE,
            "--input",
            str(docs),
            *remote(url),
            "--output",
            str(out),
            "--prompt-file",
            str(tmp_path / "prompt.txt"),
            "--system-prompt-file",
            str(tmp_path / "system.txt"),
            "--parse",
            "json-list:question,answer",
            "--chunk-field",
            "text",
            "--chunk-tokens",
            "100",
            "--chunk-overlap",
            "8",
            "--tokenizer",
            str(tokenizer_dir),
            "--carry",
            "meta.title:title",
        )
        requests = [json.loads(line)["request"]["messages"] for line in log.read_text().splitlines()]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    slices = Chunker(tok, 100, 8).slices(LONG)
    assert len(slices) >= 3 and all(len(tok(s, add_special_tokens=False)["input_ids"]) <= 100 for s in slices)
    code = next(s for s in slices if "def area" in s)
    assert "```python\ndef area(r):\n    return 3.14159 * r * r\n```" in code  # the fence is whole in one slice
    assert len(requests) == len(slices) + 1
    assert requests[0][0] == {"role": "system", "content": "You write English exam questions."}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * len(requests)  # each slice: 3 items, the broken middle one rejected
    first = rows[0]
    assert first["id"] == "bio-s0-gen0-0" and first["parent_id"] == "bio-s0"
    assert (first["doc_id"], first["slice_index"]) == ("bio", 0)
    assert first["lineage"]["item"] == 0 and first["lineage"]["prompt_sha256"] == rows[-1]["lineage"]["prompt_sha256"]
    for name in ("prompt_sha256", "system_prompt_sha256"):  # lineage and provenance name the same prompt
        assert first["lineage"][name] == first["generation"][name]
    assert rows[1]["id"] == "bio-s0-gen0-2" and rows[1]["answer"] == "光、水和二氧化碳。"
    assert rows[-1]["doc_id"] == "short" and rows[-1]["title"] == "Physics"
    rejects = [json.loads(line) for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejects} == {"list item is not valid JSON"} and rejects[0]["record"]["item"] == 1


@pytest.mark.parametrize(
    ("flag", "parse"),
    [
        ("--prompt-file", ["--parse", "text"]),
        ("--system-prompt-file", ["--parse", "text"]),
        ("--system-prompt-file", []),
    ],
)
def test_a_placeholder_the_data_lacks_is_one_line_before_any_model_loads(
    tmp_path: Path, flag: str, parse: list[str]
) -> None:
    rows = _write(tmp_path / "rows.jsonl", [{"id": "a", "problem": "1+1?", "meta": {"title": "x"}}])
    (tmp_path / "bad.txt").write_text("{{meta.topic}}")
    (tmp_path / "good.txt").write_text("{{meta.title}} {{question}}" if not parse else "{{meta.title}}")
    files = {"--prompt-file": "good.txt", "--system-prompt-file": "good.txt", flag: "bad.txt"}
    result = run_command(
        GENERATE,
        "--input",
        str(rows),
        "--model",
        str(tmp_path / "no-model"),
        "--engine",
        "hf",
        *[arg for name, file in files.items() for arg in (name, str(tmp_path / file))],
        *parse,
        "--output",
        str(tmp_path / "o.jsonl"),
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {flag} {tmp_path / 'bad.txt'}: {{{{meta.topic}}}} is not a field of "
        f"{tmp_path / 'rows.jsonl'} (its rows have: id, problem, meta)"
    )


def test_novelty_keeps_earlier_items_across_a_resumed_shard(tmp_path: Path) -> None:
    rows = _write(tmp_path / "rows.jsonl", [{"id": f"r{k}", "topic": t} for k, t in enumerate(["sea", "tax", "sky"])])
    (tmp_path / "prompt.txt").write_text("Write tasks about {{topic}}.")
    (tmp_path / "pool.jsonl").write_text(json.dumps({"instruction": "Write a poem about the sea."}) + "\n")
    tasks = ["Write a short story about a lighthouse keeper.", "Explain how income tax brackets work."]
    script = [
        {"match": ["about sea"], "choices": [{"content": "1. Write a poem about the sea!\n2. " + tasks[0]}]},
        {"match": ["about tax"], "choices": [{"content": "- " + tasks[1]}]},
        {"match": ["about sky"], "status": 400, "error": "the server went away"},
    ]
    out = tmp_path / "tasks.jsonl"
    args = [
        "--input",
        str(rows),
        "--output",
        str(out),
        "--prompt-file",
        str(tmp_path / "prompt.txt"),
        "--parse",
        "lines:instruction",
        "--novelty-against",
        f"{tmp_path / 'pool.jsonl'}:instruction",
        "--save-per-iteration",
        "1",
    ]
    (tmp_path / "a").mkdir()
    with scripted(script, tmp_path / "a") as (url, _):
        failed = run_command(GENERATE, *remote(url), *args, check=False)
    assert failed.returncode != 0 and not out.exists()
    script[2] = {
        "match": ["about sky"],
        "choices": [{"content": "1. " + tasks[1].replace("income", "Income") + "\n2. Name three clouds."}],
    }
    (tmp_path / "b").mkdir()
    with scripted(script, tmp_path / "b") as (url, log):
        run_command(GENERATE, *remote(url), *args)
        sent = log.read_text().splitlines()
    assert len(sent) == 1  # only the row the failed run had not saved
    kept = [json.loads(line)["instruction"] for line in out.read_text().splitlines()]
    assert kept == [tasks[0], tasks[1], "Name three clouds."]
    reasons = [json.loads(line)["reason"] for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    assert reasons == [
        "too similar to a pool instruction (ROUGE-L >= 0.7)",
        "too similar to an earlier item (ROUGE-L >= 0.7)",  # the resumed run remembers row r1's item
    ]


def test_an_item_that_copies_a_nested_input_field_is_rejected(tmp_path: Path) -> None:
    tasks = ["Sort a list of numbers.", "Name a color."]
    rows = _write(tmp_path / "rows.jsonl", [{"id": str(k), "meta": {"task": t}} for k, t in enumerate(tasks)])
    (tmp_path / "prompt.txt").write_text("Rewrite this task: {{meta.task}}")
    out = tmp_path / "o.jsonl"
    script = [
        {"match": [tasks[0]], "choices": [{"content": "sort a list of  numbers."}]},
        {"match": [tasks[1]], "choices": [{"content": "Name three primary colors."}]},
    ]
    with scripted(script, tmp_path) as (url, _):
        run_command(
            GENERATE, *remote(url), "--input", str(rows), "--output", str(out), "--prompt-file",
            str(tmp_path / "prompt.txt"), "--parse", "text:task",
        )  # fmt: skip
    assert [json.loads(line)["task"] for line in out.read_text().splitlines()] == ["Name three primary colors."]
    rejects = [json.loads(line) for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ["copies its input field 'meta.task'"]
