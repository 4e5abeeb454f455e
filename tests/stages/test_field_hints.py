"""A field the data lacks names the flag that named it: the hint sends the user to the right flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftkit.cli import run_main
from sftkit.commands import label_filter, length_selector
from sftkit.synthetic import write_dataset

pytestmark = pytest.mark.stages


@pytest.mark.parametrize(
    ("command", "args", "flag"),
    [
        (label_filter, ["--pass-rate-field", "pass_rate_7b"], "--pass-rate-field"),
        (length_selector, ["--total_samples", "5", "--length-field", "answer_text"], "--length-field"),
        (length_selector, ["--total_samples", "5", "--solution-field", "solution"], "--solution-field"),
    ],
)
def test_a_missing_field_names_its_flag(command, args: list[str], flag: str, tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path / "d.jsonl", 50, seed=2)
    with pytest.raises(SystemExit) as done:
        run_main(lambda: command.main(["--input", str(data), "--output", str(tmp_path / "o.jsonl"), *args]))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert done.value.code == 2
    assert err.endswith(f"Name yours with {flag}.") and "the data has fields: problem, generated_solution" in err
