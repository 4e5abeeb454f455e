"""--help lists each flag once, with its aliases on an ``also:`` line, and every spelling still parses.

The parsers keep every spelling in ``option_strings`` (the CLI reference reads them there); only the help
is shorter: the _ for - twin of a flag is covered by one note instead of being listed.
"""

from __future__ import annotations

import argparse
import importlib
import re

import pytest

from sftkit import cli, registry

pytestmark = pytest.mark.unit

COMMANDS = [*registry.STAGES, *registry.TOOLS]


def _parser(name: str) -> argparse.ArgumentParser:
    return importlib.import_module(f"sftkit.commands.{name}").build_parser()


def _listed(parser: argparse.ArgumentParser) -> tuple[str, list[str]]:
    """The help (less the description, free prose) and the flags its listing shows: each flag's own line
    (``  --a A   help`` or ``  -h, --help   help``) up to the help, and its ``also:`` line."""
    parser.description = None
    text = parser.format_help()
    flags: list[str] = []
    for line in text.splitlines():
        if line.startswith("  -"):
            invocation = re.split(r"\s{2,}", line.strip())[0]
            flags += [spelling.split(" ")[0] for spelling in invocation.split(", ")]
        elif line.strip().startswith("also: "):
            flags += line.strip().removeprefix("also: ").split(", ")
    return text, flags


def _twin(flag: str) -> str:
    return flag.replace("_", "-")


@pytest.mark.parametrize("name", COMMANDS)
def test_help_lists_each_flag_once_and_names_its_other_spellings(name: str) -> None:
    parser = _parser(name)
    text, listed = _listed(parser)
    assert len({_twin(f) for f in listed}) == len(listed), f"a flag is listed twice: {sorted(listed)}"
    for action in parser._actions:
        if not action.option_strings:
            continue
        assert action.option_strings[0] in listed
        for flag in action.option_strings[1:]:
            if flag not in listed:  # an _ for - twin of a listed spelling of this flag, which the note covers
                assert _twin(flag) in {_twin(f) for f in action.option_strings if f in listed}, flag
                assert cli.UNDERSCORE_NOTE in text
    assert set(listed) <= {f for a in parser._actions for f in a.option_strings}


@pytest.mark.parametrize("name", COMMANDS)
def test_the_usage_line_names_no_flag_twice(name: str) -> None:
    usage = _parser(name).format_usage()
    flags = re.findall(r"(?<![\w-])--?[\w-]+", usage)
    assert len({_twin(f) for f in flags}) == len(flags), usage


def _values(action: argparse.Action) -> list[str]:
    if action.nargs == 0:
        return []
    value = str(next(iter(action.choices))) if action.choices else "7"
    return [value] * (action.nargs if isinstance(action.nargs, int) else 1)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_spelling_parses_as_the_first(name: str) -> None:
    parser = _parser(name)
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        required = [
            x for a in parser._actions if a.required and a is not action for x in (a.option_strings[0], *_values(a))
        ]
        want = parser.parse_args([*required, action.option_strings[0], *_values(action)])
        for flag in action.option_strings[1:]:
            assert parser.parse_args([*required, flag, *_values(action)]) == want, flag


def test_a_flag_with_an_alias_reads_as_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    parser = cli.parser("Does a thing.")
    parser.prog = "tool"
    cli.add(parser, "--dataset-config", "--subset_name", required=True, help="the subset")
    cli.add(parser, "--dry-run", action="store_true", help="change nothing")
    assert parser.format_help() == (
        "usage: tool --dataset-config DATASET_CONFIG [options]\n"
        "\n"
        "Does a thing.\n"
        "\n"
        "options:\n"
        "  -h, --help            show this help message and exit\n"
        "  --dataset-config DATASET_CONFIG\n"
        "                        the subset\n"
        "                        also: --subset-name\n"
        "  --dry-run             change nothing\n"
        "\n"
        f"{cli.UNDERSCORE_NOTE}\n"
    )
    for flag in ("--dataset-config", "--dataset_config", "--subset-name", "--subset_name"):
        assert parser.parse_args([flag, "x"]).dataset_config == "x"
    assert parser.parse_args(["--dataset-config", "x", "--dry_run"]).dry_run
