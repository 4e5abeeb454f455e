from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sftkit.data.sources import InputSpec, open_source
from sftkit.errors import InputError

pytestmark = pytest.mark.unit

ROWS = [{"problem": f"q{i}", "generated_solution": "x" * (i + 1), "n": i} for i in range(25)]


def _records(source, start=0, stop=None, batch_size=7):
    stop = source.num_rows() if stop is None else stop
    out = []
    for batch in source.batches(start, stop, batch_size):
        out.extend(batch.records("id"))
    return out


@pytest.fixture
def formats(tmp_path: Path) -> dict[str, Path]:
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n\n" for r in ROWS))  # blank lines are not rows
    js = tmp_path / "rows.json"
    js.write_bytes(orjson.dumps(ROWS))
    pqf = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), pqf, row_group_size=4)
    return {"jsonl": jsonl, "json": js, "parquet": pqf}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_every_format_gives_the_same_rows_over_any_range(formats: dict[str, Path], fmt: str) -> None:
    source = open_source(InputSpec(str(formats[fmt])))
    assert source.num_rows() == 25
    rows = _records(source)
    assert [r["n"] for r in rows] == list(range(25))
    assert rows[3]["id"] == "rows-3"  # no id column: derived from the position, stable
    assert [r["n"] for r in _records(source, 5, 18, batch_size=3)] == list(range(5, 18))


def test_folder_and_glob_read_files_in_sorted_order(tmp_path: Path) -> None:
    for k in range(3):
        part = tmp_path / "d" / f"part{k}.jsonl"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(b"".join(orjson.dumps({"k": k, "i": i}) + b"\n" for i in range(4)))
    for spec in (str(tmp_path / "d"), str(tmp_path / "d" / "part*.jsonl")):
        source = open_source(InputSpec(spec))
        assert source.num_rows() == 12
        assert [(r["k"], r["i"]) for r in _records(source, 2, 10)] == [(k, i) for k in range(3) for i in range(4)][2:10]
        assert [b.start for b in source.iter_all(100)] == [0, 4, 8]


def test_hub_path_runs_load_dataset_on_a_local_folder(formats: dict[str, Path], tmp_path: Path) -> None:
    repo = tmp_path / "hub_like"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train-00000.parquet").write_bytes(formats["parquet"].read_bytes())
    source = open_source(InputSpec(str(repo), format="hub"))
    assert type(source).__name__ == "HubSource"
    assert source.num_rows() == 25
    assert [r["n"] for r in _records(source, 10, 20)] == list(range(10, 20))
    assert [r["n"] for b in source.iter_all(10) for r in b.records("id")] == list(range(25))
    streamed = open_source(InputSpec(str(repo), format="hub", streaming=True))
    assert [r["n"] for b in streamed.iter_all(6) for r in b.records("id")] == list(range(25))


def test_unknown_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_source(InputSpec(str(tmp_path / "missing.jsonl"), format="jsonl"))
    with pytest.raises(InputError, match="glob matches no files"):
        open_source(InputSpec(str(tmp_path / "*.jsonl")))


def test_malformed_lines_become_rejects_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n\n[1, 2]\n{"a": 4}\n')
    source = open_source(InputSpec(str(path)))
    assert source.num_rows() == 4
    (batch,) = list(source.batches(0, 4, 100))
    assert [r["a"] for r in batch.records("id")] == [1, 4]
    assert [(r.index, r.location) for r in batch.rejects] == [(1, f"{path}:2"), (2, f"{path}:4")]
    assert "malformed JSON" in batch.rejects[0].reason and "not a JSON object" in batch.rejects[1].reason


def test_missing_field_lists_the_fields_the_data_has(formats: dict[str, Path]) -> None:
    (batch, *_) = open_source(InputSpec(str(formats["parquet"]))).batches(0, 25, 10)
    with pytest.raises(
        InputError, match=r"no field 'answer'.*problem, generated_solution, n.*Name yours with --answer-field\."
    ):
        batch.require({"answer": "--answer-field"})


def test_char_lengths_flag_missing_empty_and_non_text(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"s": "héllo"}\n{"s": ""}\n{"s": 5}\n{"t": 1}\n')
    (batch,) = open_source(InputSpec(str(path))).batches(0, 4, 10)
    assert batch.char_lengths("s").tolist() == [5, -1, -1, -1]
    table = pa.table({"s": ["héllo", "", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    (batch,) = open_source(InputSpec(str(tmp_path / "t.parquet"))).batches(0, 3, 10)
    assert np.array_equal(batch.char_lengths("s"), [5, -1, -1])


def test_a_mistyped_local_folder_read_as_a_hub_dataset_fails_at_once(tmp_path: Path) -> None:
    """``--benchmark data/MATH-50:test:problem`` (a typo of a downloaded copy): a path, not a Hub id, so one
    line naming it at once, without asking the Hub (which took 24 s to say "not found")."""
    import time

    started = time.time()
    for name in (str(tmp_path / "MATH-50"), "data/benchmarks/nope/x", "./MATH-50"):
        with pytest.raises(InputError, match="no such folder here"):
            open_source(InputSpec(name, None, "test", "hub"), "--benchmark")
    assert time.time() - started < 1
