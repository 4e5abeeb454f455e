"""The input mistakes a newcomer makes first, each one line naming the fix, and an output folder that is also
the input folder never read back as input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftkit.cli import run_main
from sftkit.commands import label_filter
from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.stages


def _filter(tmp_path: Path, *args: str) -> list[str]:
    return ["--output", str(tmp_path / "out" / "kept.jsonl"), "--filter-by-pass-rate", "1", *args]


def _one_line(capsys, call) -> str:
    with pytest.raises(SystemExit) as done:
        run_main(call)
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and err[-1].startswith("error: "), err
    return err[-1]


def test_a_json_array_in_a_jsonl_file_names_the_format(tmp_path: Path, capsys) -> None:
    rows = [json.loads(line) for line in write_dataset(tmp_path / "d.jsonl", 20, seed=1).read_text().splitlines()]
    (tmp_path / "array.jsonl").write_text(json.dumps(rows, indent=1))
    line = _one_line(capsys, lambda: label_filter.main(["--input", str(tmp_path / "array.jsonl"), *_filter(tmp_path)]))
    assert line.endswith("array.jsonl: holds a JSON array, not one JSON object per line; pass --input-format json")
    assert (
        label_filter.main(["--input", str(tmp_path / "array.jsonl"), "--input-format", "json", *_filter(tmp_path)]) == 0
    )


def test_json_lines_in_a_json_file_names_the_format(tmp_path: Path, capsys) -> None:
    lines = write_dataset(tmp_path / "d.jsonl", 20, seed=1).read_text()
    (tmp_path / "lines.json").write_text(lines)
    line = _one_line(capsys, lambda: label_filter.main(["--input", str(tmp_path / "lines.json"), *_filter(tmp_path)]))
    assert line.endswith("holds one JSON object per line (JSON lines), not a JSON array; pass --input-format jsonl")


@pytest.mark.parametrize("name", ["scored_data.json", "results/seeds.jsonl", "./seeds"])
def test_a_missing_local_file_is_no_such_file_never_a_hub_dataset(
    name: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _one_line(capsys, lambda: label_filter.main(["--input", name, *_filter(tmp_path)]))
    assert line == f"error: --input {name}: no such file, folder or glob match here ({tmp_path / name})"


def test_an_output_written_into_the_input_folder_is_not_read_back(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "data"
    write_dataset(folder / "d.jsonl", 180, seed=4)
    args = ["--input", str(folder), "--output", str(folder / "kept.jsonl"), "--filter-by-pass-rate", "1"]
    assert label_filter.main(args) == 0
    first = (folder / "kept.jsonl").read_text().count("\n")
    assert label_filter.main([*args, "--overwrite"]) == 0
    assert (folder / "kept.jsonl").read_text().count("\n") == first
    assert "1 file read, skipped" in capsys.readouterr().err
    stats = json.loads((folder / "kept.jsonl.stats.json").read_text())
    assert stats["rows_in"] == 180
