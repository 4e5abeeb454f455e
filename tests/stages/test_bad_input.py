"""Input off the well-walked paths: folders holding earlier outputs, clashing file names, mixed types,
corrupt files, an unreachable Hub, malformed responses files and empty inputs. Each ends in one line
naming the file (and line or field) and exit 2, or in a quarantine with a count: never a traceback."""

from pathlib import Path

import orjson
import pytest
from helpers import run_command

from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.stages

LABEL = "selectors/label_filter.py"
LENGTH = "selectors/length_selector.py"
SCORER = "hpc/difficulty_scorer.py"


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _one_line_error(proc, *names: str) -> str:
    """The command failed with exit 2 and one 'error:' line naming each of ``names``; no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def test_a_folder_holding_earlier_outputs_reads_only_its_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(data / "a.jsonl", 300, seed=1)
    write_dataset(data / "b.parquet", 200, seed=2)
    out = data / "kept.jsonl"
    args = ("--input", str(data), "--filter-by-pass-rate", "1", "--problem-type", "any", "--on-bad-record", "skip")
    run_command(LABEL, *args, "--output", str(out), "--shard", "1/2")  # leaves kept.jsonl.parts/ in the folder
    (data / "kept.jsonl.rejects.jsonl").write_bytes(b'{"index": 0}\n')
    (data / "kept.jsonl.stats.json").write_bytes(b"{}")
    _write(data / ".hidden" / "c.jsonl", [{"problem": "x"}])
    proc = run_command(LABEL, *args, "--output", str(tmp_path / "again.jsonl"))
    stats = orjson.loads(Path(f"{tmp_path / 'again.jsonl'}.stats.json").read_bytes())
    assert stats["counts"]["rows"] == 500
    assert "2 files read, skipped" in proc.stderr
    for why in ("in .parts/", "*.rejects.jsonl", "*.stats.json", "hidden"):
        assert why in proc.stderr


def test_derived_ids_are_unique_across_the_input(tmp_path: Path) -> None:
    row = {"problem": "p", "generated_solution": "s", "pass_rate_72b_tir": "0.5"}
    for name in ("cot/train.jsonl", "tir/train.jsonl", "data.v1.jsonl", "data.v2.jsonl", "a.jsonl"):
        _write(tmp_path / "in" / name, [row, row])
    (tmp_path / "in" / "a.json").write_bytes(orjson.dumps([row, row]))
    out = tmp_path / "out.jsonl"
    run_command(LABEL, "--input", str(tmp_path / "in"), "--filter-by-pass-rate", "1", "--output", str(out))
    ids = [r["id"] for r in _lines(out)]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {"cot/train-0", "tir/train-1", "data.v1-0", "data.v2-1", "a.json-0", "a.jsonl-0"} <= set(ids)
    run_command(
        LABEL, "--input", str(tmp_path / "in"), "--filter-by-pass-rate", "1", "--output", str(out), "--overwrite"
    )
    assert [r["id"] for r in _lines(out)] == ids  # stable across reruns


def test_a_field_with_numbers_and_text_names_the_field_and_records(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "mixed.jsonl",
        [
            {"problem": "a", "generated_solution": "xx", "source": 1},
            {"problem": "b", "generated_solution": "yyy", "source": "web"},
        ],
    )
    out = tmp_path / "sel.parquet"
    proc = run_command(LENGTH, "--input", str(data), "--output", str(out), "--total-samples", "2", check=False)
    line = _one_line_error(proc, "sel.parquet", "'source'", "number", "text")
    assert ".tmp" not in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("script", "flag"), [(LABEL, "--input"), (LENGTH, "--input"), ("selectors/difficulty_selector.py", "--scores")]
)
def test_a_corrupt_parquet_is_one_line_naming_it(tmp_path: Path, script: str, flag: str) -> None:
    good = write_dataset(tmp_path / "in" / "good.parquet", 50)
    bad = tmp_path / "in" / "bad.parquet"
    bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # truncated mid-file
    more = ["--input", str(good)] if flag != "--input" else []
    proc = run_command(script, flag, str(tmp_path / "in"), *more, "--output", str(tmp_path / "o.jsonl"), check=False)
    _one_line_error(proc, str(bad), "corrupt or truncated")


def test_a_hub_id_that_cannot_be_reached_says_how_to_predownload(tmp_path: Path) -> None:
    proc = run_command(
        LABEL,
        "--input",
        "someorg/not-downloaded",
        "--output",
        str(tmp_path / "o.jsonl"),
        env={"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"},
        check=False,
    )
    _one_line_error(proc, "someorg/not-downloaded", "cannot be reached", "hf download", "HF_DATASETS_OFFLINE=1")


BAD_ITEMS = [
    ({"id": "b", "responses": 5}, "'responses'"),
    ({"id": "c", "responses": [[1, 2]]}, "'responses'"),
    ({"id": "d", "responses": {"m": [1, "2"]}}, "'responses'['m']"),
    ({"id": "e", "responses": {"m": [3, 2]}}, "'responses'['m']"),
    ({"id": "f", "responses": {"m": [0, 2]}, "avg_logprob": "abc"}, "'avg_logprob'"),
]


@pytest.mark.parametrize(("item", "field"), BAD_ITEMS)
def test_a_malformed_responses_line_names_file_line_and_field(tmp_path: Path, item: dict, field: str) -> None:
    good = {"id": "a", "responses": {"m": [1, 2]}, "avg_logprob": -1.0}
    data = _write(tmp_path / "r.jsonl", [good, item])
    proc = run_command(SCORER, "--from-responses", str(data), "--output", str(tmp_path / "o.jsonl"), check=False)
    _one_line_error(proc, f"{data}:2", field)


def test_malformed_responses_lines_are_quarantined_under_skip(tmp_path: Path) -> None:
    good = [{"id": f"g{k}", "responses": {"m": [k % 3, 2], "n": [1, 2]}, "avg_logprob": -1.0 - k} for k in range(4)]
    data = _write(tmp_path / "r.jsonl", good[:2] + [item for item, _ in BAD_ITEMS] + good[2:])
    out = tmp_path / "o.jsonl"
    run_command(SCORER, "--from-responses", str(data), "--output", str(out), "--on-bad-record", "skip")
    assert [r["id"] for r in _lines(out)] == [g["id"] for g in good]
    rejects = _lines(Path(f"{out}.responses.rejects.jsonl"))
    assert [r["location"] for r in rejects] == [f"{data}:{k}" for k in range(3, 3 + len(BAD_ITEMS))]


def test_a_missing_responses_file_is_one_line(tmp_path: Path) -> None:
    proc = run_command(
        SCORER, "--from-responses", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o.jsonl"), check=False
    )
    _one_line_error(proc, "nope.jsonl")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_length_selector_on_an_empty_input_writes_nothing_and_says_why(tmp_path: Path, content: bytes) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_bytes(content)
    out = tmp_path / "sel.jsonl"
    proc = run_command(LENGTH, "--input", str(data), "--output", str(out), "--total-samples", "5", check=False)
    _one_line_error(proc, "empty.jsonl", "0 rows read", "not written")
    assert not out.exists()


def test_duplicate_ids_in_the_data_are_counted_and_reported(tmp_path: Path) -> None:
    rows = [
        {"id": i, "problem": "p", "generated_solution": "s" * (k + 1), "pass_rate_72b_tir": "0.5"}
        for k, i in enumerate(["a", "b", "a", "c", "a", "b"])
    ]
    data = _write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "o.jsonl"
    for shard in ("0/2", "1/2"):
        run_command(LABEL, "--input", str(data), "--filter-by-pass-rate", "1", "--output", str(out), "--shard", shard)
    proc = run_command("hpc/merge_shards.py", "--output", str(out))
    stats = orjson.loads(Path(f"{out}.stats.json").read_bytes())
    assert stats["duplicate_ids"] == 3  # two more 'a', one more 'b', counted across shards
    assert set(stats["duplicate_id_examples"]) == {"a", "b"}
    assert "repeat an id 'id'" in proc.stderr
    assert len(_lines(out)) == 6  # counted, not dropped


def test_a_nested_field_with_numbers_and_text_is_named_by_its_path(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "nested.jsonl",
        [
            {"problem": "a", "generated_solution": "xx", "meta": {"src": 1}},
            {"problem": "b", "generated_solution": "yyy", "meta": {"src": "web"}},
        ],
    )
    proc = run_command(
        LENGTH, "--input", str(data), "--output", str(tmp_path / "sel.parquet"), "--total-samples", "2", check=False
    )
    _one_line_error(proc, "'meta.src'", "number", "text")


def test_another_spelling_of_the_same_input_path_resumes(tmp_path: Path) -> None:
    write_dataset(tmp_path / "in" / "d.jsonl", 50)
    out = tmp_path / "o.jsonl"
    args = ("--filter-by-pass-rate", "1", "--output", str(out), "--shard", "0/2")
    run_command(LABEL, "--input", "in/d.jsonl", *args, cwd=tmp_path)
    proc = run_command(LABEL, "--input", "./in//d.jsonl", *args, cwd=tmp_path)
    assert "already complete" in proc.stderr
