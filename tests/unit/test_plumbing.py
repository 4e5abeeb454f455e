"""Small pieces of the data plumbing: prefetching, atomic writes, output formats, sort keys, the journal."""

import threading
from pathlib import Path

import orjson
import pytest

from sftkit.data.atomic import atomic_path, dumps_line
from sftkit.data.journal import JOURNAL_NAME, Journal
from sftkit.data.prefetch import prefetch
from sftkit.data.writers import write_lines
from sftkit.errors import InputError
from sftkit.sortkeys import sort_order

pytestmark = pytest.mark.unit


def test_prefetch_keeps_order_and_reraises_producer_errors() -> None:
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))

    def failing():
        yield 1
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        list(prefetch(failing()))


def test_prefetch_stops_its_producer_when_the_consumer_leaves_early() -> None:
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    assert not any(t.name == "sftkit-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) < 20


def test_atomic_write_leaves_nothing_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_every_output_format_round_trips_through_datasets(tmp_path: Path, suffix: str) -> None:
    import datasets

    records = [{"id": f"r{i}", "text": "ü" * i, "score": i / 2, "tags": ["a"] * (i % 3)} for i in range(50)]
    path = tmp_path / f"out{suffix}"
    assert write_lines(path, lambda: (dumps_line(r) for r in records)) == 50
    builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}[suffix]
    loaded = datasets.load_dataset(builder, data_files=str(path), split="train")
    assert loaded.to_list() == records


def test_unknown_output_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.jsonl, \.json, \.parquet"):
        write_lines(tmp_path / "out.csv", lambda: iter(()))


def test_sort_order_numbers_lengths_missing_last_and_stable_ties() -> None:
    rows = [
        {"p": "0.5", "s": "aa"},
        {"p": "n/a", "s": "a"},
        {"p": 0.25, "s": "a"},
        {"p": "0.5", "s": "aaaa"},
        {"p": "0.25", "s": "a"},
    ]
    spec = [{"field": "p", "key": "number", "order": "asc"}, {"field": "s", "key": "length", "order": "desc"}]
    assert sort_order(rows, spec).tolist() == [2, 4, 3, 0, 1]
    assert orjson.loads(dumps_line({"x": 1})) == {"x": 1}


def test_a_journal_line_cut_by_a_kill_is_dropped_and_appends_go_on_after_it(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(b'{"key":"a#0","value":1}\n{"key":"b#0","val')
    journal = Journal(path)
    assert (len(journal), journal.get("a#0"), journal.get("b#0")) == (1, 1, None)
    journal.append("c#0", {"x": 2})
    journal.close()
    assert Journal(path).get("c#0") == {"x": 2} and path.read_bytes().count(b"\n") == 2
