"""The ``sftkit`` command dispatches to the stages, the tools and slurm/submit.sh."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import orjson
import pytest
from helpers import REPO

import sftkit.__main__ as console
from sftkit import registry
from sftkit.commands import length_selector

pytestmark = pytest.mark.unit

ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # python -m sftkit from this checkout


@pytest.fixture(autouse=True)
def _own_argv_and_signals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A dispatch sets sys.argv and, through run_main, the stop signals' handlers: both are put back."""
    monkeypatch.setattr(sys, "argv", ["pytest"])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGUSR1, signal.SIGTERM)}
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def _exit_code(argv: list[str]) -> int | str | None:
    with pytest.raises(SystemExit) as exc:
        console.main(argv)
    return exc.value.code


def test_a_stage_runs_as_its_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["length_selector", "--help"]) == 0
    expected = length_selector.build_parser()
    expected.prog = "sftkit length_selector"
    assert capsys.readouterr().out == expected.format_help()


def test_an_alias_runs_its_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["llm_filter", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: sftkit filter ")


def test_a_tool_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["merge_shards", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: sftkit merge_shards ")


def test_a_stage_error_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.jsonl"
    assert _exit_code(["length_selector", "--input", str(missing), "--output", str(tmp_path / "o.jsonl")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and str(missing) in line


def test_an_unknown_name_is_one_line_naming_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["no_such_stage", "--input", "x"]) == 2
    out = capsys.readouterr()
    (line,) = out.err.splitlines()
    assert "no_such_stage" in line and registry.names_line() in line and not out.out
    assert all(name in line for name in [*registry.TOOLS, "submit", "status", "pipeline"])


@pytest.mark.parametrize(("argv", "code"), [([], 2), (["-h"], 0), (["--help"], 0)])
def test_the_usage_maps_stages_tools_and_slurm_commands(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_code(argv) == code
    rows = [line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines() if re.match(r"  \S", line)]
    assert [name for name, _ in rows] == [*registry.STAGES, *registry.TOOLS, "submit", "status", "pipeline"]
    for item, (_, summary) in zip([*registry.STAGES.values(), *registry.TOOLS.values()], rows):
        assert summary.startswith(item.summary)


@pytest.mark.parametrize("command", ["submit", "status", "pipeline"])
def test_slurm_commands_without_a_clone_say_so_in_one_line(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(console, "SUBMIT", tmp_path / "slurm" / "submit.sh")
    assert _exit_code([command, "recipe.yaml"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "clone of the repository" in line and "sftkit STAGE" in line


def test_submit_runs_submit_sh() -> None:
    assert console.SUBMIT == REPO / "slurm" / "submit.sh"
    proc = subprocess.run(
        [sys.executable, "-m", "sftkit", "submit", "--help"], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2  # submit.sh's own exit code for its usage
    assert "slurm/submit.sh [--local] STAGE [--shards N]" in proc.stdout
    assert f"stages: {registry.names_line()}" in proc.stdout


def test_python_m_sftkit_runs_a_stage(tmp_path: Path) -> None:
    rows = [
        {"id": str(i), "problem": "p", "expected_answer": "1", "pass_rate_72b_tir": rate}
        for i, rate in enumerate(["0.05", "0.5", "0.1"])
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "kept.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "sftkit", "label_filter", "--input", str(src), "--output", str(out)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [orjson.loads(line)["id"] for line in out.read_bytes().splitlines()] == ["0", "2"]


def test_the_console_entry_point_is_the_dispatcher() -> None:
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["sftkit"]
    module, _, attr = target.partition(":")
    assert getattr(import_module(module), attr) is console.main


def test_a_recipe_command_names_itself_as_the_user_typed_it_not_its_module_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sftkit status`` and ``slurm/submit.sh status`` end in sftkit.pipeline, whose file is __main__.py."""
    from sftkit.pipeline.__main__ import build_parser

    for argv, usage in ((["status"], "slurm/submit.sh status"), (["pipeline", "--help"], "slurm/submit.sh pipeline")):
        with pytest.raises(SystemExit):
            build_parser().parse_args(argv)
        captured = capsys.readouterr()
        assert usage in captured.out + captured.err and "__main__.py" not in captured.out + captured.err, argv
