"""Conversations and preferences in the export: multi-turn, tool and system rows in every format that can hold
them, round trips, DPO pairs from the filter, from hh-rlhf transcripts and from scores, read back by
datasets.load_dataset and checked against TRL's and LLaMA-Factory's documented schemas."""

import json
from pathlib import Path

import datasets
import pytest
from helpers import run_command

from sftkit.models.tiny import tiny_tokenizer

pytestmark = pytest.mark.stages

EXPORT = "upload/export_sft.py"
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _export(inp: Path | list[Path], out: Path, *extra: str, check: bool = True):
    inputs = [str(p) for p in (inp if isinstance(inp, list) else [inp])]
    return run_command(EXPORT, "--input", *inputs, "--output", str(out), "--license", "mit", *extra, check=check)


def _load(out: Path) -> datasets.DatasetDict:
    cache = out.parent / f"hf-cache-{len(list(out.parent.glob('hf-cache-*')))}"
    return datasets.load_dataset(str(out), cache_dir=str(cache))


def _rejects(out: Path) -> list[dict]:
    path = out / "default.rejects.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def conversation_rows(n: int = 6) -> list[dict]:
    """Multi-turn messages with a system turn and a tool call (OpenAI/TRL), and plain two-turn chats."""
    rows = []
    for i in range(n):
        call = {"type": "function", "function": {"name": "weather", "arguments": json.dumps({"city": f"C{i}"})}}
        rows.append(
            {
                "id": f"t{i}",
                "messages": [
                    {"role": "system", "content": "You check the weather."},
                    {"role": "user", "content": f"Weather in C{i}?"},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "content": f"{10 + i} degrees"},
                    {"role": "assistant", "content": f"It is {10 + i} degrees in C{i}."},
                    {"role": "user", "content": "Thanks!"},
                    {"role": "assistant", "content": "<think>\nBe polite.\n</think>\n\nYou are welcome."},
                ],
                "tools": json.dumps(TOOLS),
            }
        )
        rows.append(
            {
                "id": f"p{i}",
                "messages": [{"role": "user", "content": f"Say {i}."}, {"role": "assistant", "content": str(i)}],
            }
        )
    return rows


BAD_CONVERSATIONS = [
    ({"id": "b0", "messages": [{"role": "robot", "content": "x"}]}, "field 'messages' turn 0: unknown role 'robot'"),
    (
        {"id": "b1", "messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}]},
        "field 'messages' turn 0: empty content",
    ),
    ({"id": "b2", "conversations": [{"from": "human", "value": "hi"}]}, "the last turn is not the assistant's"),
    (
        {"id": "b3", "conversations": [{"from": "human", "value": "hi"}, {"from": "bot", "value": "x"}]},
        "field 'conversations' turn 1: unknown role 'bot'",
    ),
    (
        {
            "id": "b4",
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]},
            ],
        },
        "arguments are not JSON",
    ),
]


def test_conversations_tools_and_system_in_every_format_that_can_hold_them(tmp_path: Path) -> None:
    qa = [
        {"id": f"q{i}", "problem": f"What is {i}?", "generated_solution": str(i), "system": "Be exact."}
        for i in range(4)
    ]
    sharegpt = [
        {
            "id": f"s{i}",
            "conversations": [
                {"from": "system", "value": "Use tools."},
                {"from": "human", "value": f"Weather in S{i}?"},
                {"from": "function_call", "value": json.dumps({"name": "weather", "arguments": {"city": f"S{i}"}})},
                {"from": "observation", "value": "cold"},
                {"from": "gpt", "value": "Cold."},
            ],
            "tools": json.dumps(TOOLS),
        }
        for i in range(3)
    ]
    inp = _jsonl(tmp_path / "in.jsonl", conversation_rows() + qa + sharegpt + [row for row, _ in BAD_CONVERSATIONS])
    bad = len(BAD_CONVERSATIONS)

    tok = tiny_tokenizer(tmp_path / "tok")  # the tiny models' template renders tools, tool calls and system
    _export(inp, tmp_path / "messages", "--format", "messages", "--system-prompt", "Default.", "--tokenizer", str(tok))
    card = (tmp_path / "messages" / "README.md").read_text()
    assert "# Tools" in card and "<tool_call>" in card and "You check the weather." in card
    msgs = _load(tmp_path / "messages")["train"]
    by_id = {r["id"]: r for r in msgs}
    assert len(msgs) == 12 + 4 + 3
    tool_row = by_id["t1"]
    assert [m["role"] for m in tool_row["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    call = tool_row["messages"][2]["tool_calls"][0]
    assert call["type"] == "function" and json.loads(call["function"]["arguments"]) == {"city": "C1"}
    assert json.loads(tool_row["tools"]) == TOOLS
    system = {k: v for k, v in by_id["q0"]["messages"][0].items() if v is not None}  # Parquet fills absent keys
    assert system == {"role": "system", "content": "Be exact."}  # the row's own system field wins
    assert by_id["p0"]["messages"][0]["role"] == "system" and by_id["p0"]["messages"][0]["content"] == "Default."
    assert by_id["s0"]["messages"][2]["tool_calls"][0]["function"]["name"] == "weather"
    reasons = [r["reason"] for r in _rejects(tmp_path / "messages")]
    assert len(reasons) == bad and all(want in got for (_, want), got in zip(BAD_CONVERSATIONS, reasons, strict=True))

    _export(inp, tmp_path / "sharegpt", "--format", "sharegpt", "--keep-fields", "id", "system")
    share = _load(tmp_path / "sharegpt")["train"]
    info = json.loads((tmp_path / "sharegpt" / "dataset_info.json").read_text())["default"]
    assert info["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
    t1 = next(r for r in share if r["id"] == "t1")
    assert [t["from"] for t in t1["conversations"]] == ["human", "function_call", "observation", "gpt", "human", "gpt"]
    assert t1["system"] == "You check the weather." and json.loads(t1["tools"]) == TOOLS
    assert json.loads(t1["conversations"][1]["value"]) == {"name": "weather", "arguments": {"city": "C1"}}
    assert next(r for r in share if r["id"] == "q1")["system"] == "Be exact."

    _export(inp, tmp_path / "alpaca", "--format", "alpaca")
    alpaca = _load(tmp_path / "alpaca")["train"]
    assert sorted(alpaca["id"]) == sorted([f"p{i}" for i in range(6)] + [f"q{i}" for i in range(4)])
    reasons = [r["reason"] for r in _rejects(tmp_path / "alpaca")]
    assert sum("alpaca has no place for tools" in r for r in reasons) == 6 + 3 and len(reasons) == 9 + bad


# --- preference pairs ---


def filter_rows(n: int = 12) -> list[dict]:
    """The LLM filter's full output: k samples per problem with their verdicts, some truncated or undecided."""
    rows = []
    for i in range(n):
        samples = [
            {"answer": f"The answer is \\boxed{{{i}}}.", "verified": True, "truncated": False, "correct": True},
            {
                "answer": f"So it is {i}, and so the answer is \\boxed{{{i}}}.",
                "verified": True,
                "truncated": False,
                "correct": True,
            },
            {"answer": f"\\boxed{{{i + 1}}}", "verified": False, "truncated": False, "correct": False},
            {"answer": f"Hmm, \\boxed{{{i + 2}}}", "verified": None, "truncated": False, "correct": None},
            {"answer": "", "verified": False, "truncated": True, "correct": False},
        ]
        rows.append({"id": f"f{i}", "problem": f"What is {i}?", "expected_answer": str(i), "samples": samples})
    rows.append({"id": "none", "problem": "Q?", "samples": [{"answer": "x", "truncated": False, "correct": True}]})
    return rows


def _pairs(out: Path) -> set[tuple[str, str, str]]:
    ds = _load(out)
    return {
        (r["prompt"][0]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"])
        for split in ds.values()
        for r in split
    }


HH_CHOSEN = (
    "\n\nHuman: What are some cuss words in english?\n\nAssistant: Here's an incomplete list.\n\n"
    "Human: What's your favorite one?\n\nAssistant: I haven't even thought about it."
)
HH_REJECTED = (
    "\n\nHuman: What are some cuss words in english?\n\nAssistant: Here's an incomplete list.\n\n"
    "Human: What's your favorite one?\n\nAssistant: Ass."
)


def _check_trl_and_llamafactory(out: Path) -> None:
    """TRL's conversational preference schema (prompt: messages ending with a user turn; chosen and rejected:
    one assistant message each) and LLaMA-Factory's ranking entry, its columns present in the Parquet."""
    from trl.data_utils import is_conversational

    ds = _load(out)
    for row in (r for split in ds.values() for r in split):
        assert is_conversational(row)
        assert row["prompt"][-1]["role"] == "user" and {m["role"] for m in row["prompt"]} <= {
            "system",
            "user",
            "assistant",
        }
        for side in ("chosen", "rejected"):
            assert len(row[side]) == 1 and row[side][0]["role"] == "assistant" and row[side][0]["content"]
            assert row[f"{side}_turn"] == row[side][0]
    info = json.loads((out / "dataset_info.json").read_text())
    for name, entry in info.items():
        assert entry["ranking"] is True and entry["formatting"] == "sharegpt"
        assert set(entry["columns"]) == {"messages", "chosen", "rejected"}
        table = datasets.load_dataset(
            "parquet", data_files=str(out / entry["file_name"]), cache_dir=str(out.parent / f"c-{name}")
        )
        assert set(entry["columns"].values()) <= set(table["train"].column_names)
        assert entry["tags"]["assistant_tag"] == "assistant" and entry["tags"]["role_tag"] == "role"


def test_dpo_pairs_from_the_filter_hh_rlhf_and_scores_load_in_trl_and_llamafactory_shape(tmp_path: Path) -> None:
    """One input holding all three sources: each row's source is found by its fields."""
    hh = [
        {"chosen": HH_CHOSEN.replace("?", f" {i}?", 1), "rejected": HH_REJECTED.replace("?", f" {i}?", 1)}
        for i in range(4)
    ]
    scored = [
        {"question": f"Explain {i}.", "answer": f"Answer {k} to {i}.", "score": score}
        for i in range(3)
        for k, score in enumerate((0.9, 0.2))
    ]
    rows = filter_rows() + hh + scored + [{"id": "x", "problem": "Q?"}]
    out = tmp_path / "dpo"
    _export(
        _jsonl(tmp_path / "in.jsonl", rows), out, "--format", "dpo", "--val-fraction", "0.3", "--pairs-per-problem", "2"
    )
    _check_trl_and_llamafactory(out)
    pairs = _pairs(out)
    assert len(pairs) == 12 * 2 + 4 + 3
    assert ("Explain 1.", "Answer 0 to 1.", "Answer 1 to 1.") in pairs
    assert ("What are some cuss words in english 0?", "I haven't even thought about it.", "Ass.") in pairs
    ds = _load(out)
    val = {r["prompt"][0]["content"] for r in ds["validation"]}
    assert val and not val & {r["prompt"][0]["content"] for r in ds["train"]}  # a prompt's pairs: one split
    reasons = sorted(r["reason"] for r in _rejects(out))
    assert reasons == [
        "no pair: 1 correct and 0 incorrect distinct answers",
        "score is null (no judge decided)",  # in one table with scored rows, a row without any reads score: null
    ]


def test_the_filters_every_row_file_to_dpo_keeps_reasoning_and_its_card_names_the_filter(tmp_path: Path) -> None:
    """The one-command path: the filter's every-row output (it has stats of its own) exported as pairs."""
    rows = [
        {
            "id": f"p{j}",
            "problem": f"What is {j} + 1?",
            "expected_answer": str(j + 1),
            "candidate": [
                f"<think>add {j} and 1</think>\\boxed{{{j + 1}}}",
                f"<think>guess</think>\\boxed{{{j + 50}}}",
            ],
        }
        for j in range(4)
    ]
    kept = tmp_path / "kept.jsonl"
    flags = ["--judge-only", "--candidate-field", "candidate", "--judge", "never"]
    run_command("hpc/filter.py", "--input", str(_jsonl(tmp_path / "c.jsonl", rows)), *flags, "--output", str(kept))
    out = tmp_path / "dpo"
    _export(tmp_path / "kept.full.jsonl", out, "--format", "dpo", "--reasoning", "field")
    first = _load(out)["train"][0]
    assert first["chosen"][0]["reasoning_content"] == "add 0 and 1" and first["rejected"][0]["reasoning_content"]
    card = (out / "README.md").read_text()
    assert "| `filter` | `kept.full.jsonl` | 4 → 4 |" in card and "4 rows of preference pairs" in card
    assert "`DPOTrainer`" in card and "SFTTrainer" not in card and "- dpo\n" in card


def test_a_preference_row_outside_dpo_never_loses_its_rejected_side_silently(tmp_path: Path) -> None:
    rows = [{"prompt": f"Say hi {i}.", "chosen": "Hi!", "rejected": "No."} for i in range(3)]
    inp, pick = _jsonl(tmp_path / "pairs.jsonl", rows), ["--question-field", "prompt", "--solution-field", "chosen"]
    proc = _export(inp, tmp_path / "sft", "--format", "messages", *pick, check=False)
    assert proc.returncode == 2 and "a preference row: --format messages has no place for its 'rejected'" in proc.stderr
    _export(inp, tmp_path / "kept", "--format", "messages", *pick, "--keep-fields", "rejected")
    row = _load(tmp_path / "kept")["train"][0]
    assert row["messages"][-1]["content"] == "Hi!" and row["rejected"] == "No."
