"""Lost rows are said on screen: most lost is a warning with the reasons, every row lost is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftkit.cli import run_main
from sftkit.commands import filter as llm_filter
from sftkit.commands import label_filter

pytestmark = pytest.mark.stages


def _rows(path: Path, good: int, bad: int) -> Path:
    lines = [json.dumps({"id": f"r{k}", "problem": f"{k} + 1?", "pass_rate_72b_tir": 0.5}) for k in range(good)]
    path.write_text("\n".join([*lines, *(["{not json"] * bad)]) + "\n")
    return path


def _run(call, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        run_main(call)
    return done.value.code, capsys.readouterr().err


def test_most_rows_lost_is_a_warning_with_the_reasons(tmp_path: Path, capsys) -> None:
    data = _rows(tmp_path / "d.jsonl", good=4, bad=6)
    args = ["--input", str(data), "--output", str(tmp_path / "o.jsonl"), "--on-bad-record", "skip"]
    code, err = _run(lambda: label_filter.main([*args, "--filter-by-pass-rate", "1"]), capsys)
    assert code == 0
    warning = next(line for line in err.splitlines() if line.startswith("warning: "))
    assert "6 rejected, 4 kept of 10 rows (6 malformed JSON" in warning and "rejects.jsonl" in warning


def test_every_row_rejected_is_exit_2(tmp_path: Path, capsys) -> None:
    data = _rows(tmp_path / "d.jsonl", good=0, bad=5)
    args = ["--input", str(data), "--output", str(tmp_path / "o.jsonl"), "--on-bad-record", "skip"]
    code, err = _run(lambda: label_filter.main(args), capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: part-00000-of-00001: 5 rejected, 0 kept of 5 rows")
    assert "Nothing was kept" in err


def test_the_filter_with_a_wrong_answer_field_and_skip_is_exit_2_before_any_model(tmp_path: Path, capsys) -> None:
    data = _rows(tmp_path / "d.jsonl", good=5, bad=0)
    args = [
        "--input",
        str(data),
        "--output",
        str(tmp_path / "o.jsonl"),
        "--on-bad-record",
        "skip",
        "--inference-model",
        str(tmp_path),  # a folder: found, never loaded, as the field check comes first
        "--judge",
        "never",
        "--answer-field",
        "answer",
    ]
    code, err = _run(lambda: llm_filter.main(args), capsys)
    assert code == 2 and "no field 'answer'" in err and "Name yours with --answer-field" in err
