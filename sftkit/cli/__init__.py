"""Flags shared by every entry point, in both spellings the predecessor's users type.

``--total_samples`` and ``--total-samples`` are the same flag everywhere.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sftkit import stopping
from sftkit.data.shards import Shard, resolve_shard
from sftkit.data.sources import INPUT_FORMATS, InputSpec
from sftkit.errors import BAD_RECORD_POLICIES, InputError, Interrupted

UNDERSCORE_NOTE = "Every flag also works with _ in place of each -, as the predecessor's scripts spelled them."


def shown_spellings(action: argparse.Action) -> list[str]:
    """A flag's spellings as its help shows them: the first, then each alias, without the twins that differ
    only in _ for - (the note UNDERSCORE_NOTE covers those); of an alias's twins the hyphenated one."""
    first = action.option_strings[0]
    shown = [first]
    for flag in action.option_strings[1:]:
        hyphenated = flag.replace("_", "-")
        flag = hyphenated if hyphenated in action.option_strings else flag
        if hyphenated != first.replace("_", "-") and flag not in shown:
            shown.append(flag)
    return shown


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults and keeps the description's line breaks (formulas, examples).

    A switch (a flag taking no value) shows none: ``--public`` stores False into ``private``, whose
    default True would read as "public by default". A default of None means "not set" and is not shown.

    The usage line names only what must be given, then ``[options]``: the full list is below it, and every
    argparse error prints the usage (all of it was 50 lines for the filter stage).

    Each flag is listed once, as ``--dataset-config DATASET_CONFIG``, its aliases on an ``also:`` line
    below its help, and its _ for - twins not at all (the epilog says they work), where argparse's own
    listing repeats every spelling with its metavar. A switch has no metavar to repeat: its spellings share
    its line (``-h, --help``).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or action.default is None:
            return action.help
        return super()._get_help_string(action)

    def _format_usage(self, usage: str | None, actions: list[argparse.Action], groups: list, prefix: str | None) -> str:
        if usage is not None:
            return super()._format_usage(usage, actions, groups, prefix)
        needed = [a for a in actions if a.required or not a.option_strings]
        return super()._format_usage(None, needed, [], prefix).rstrip("\n") + " [options]\n\n"

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        flags = shown_spellings(action)
        if action.nargs == 0:
            return ", ".join(flags)
        return f"{flags[0]} {self._format_args(action, self._get_default_metavar_for_optional(action))}"

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        aliases = shown_spellings(action)[1:] if action.option_strings and action.nargs != 0 else []
        if not aliases:
            return text
        help_position = min(self._action_max_length + 2, self._max_help_position)
        return f"{text}{' ' * help_position}also: {', '.join(aliases)}\n"


class Parser(argparse.ArgumentParser):
    """A wrong flag or a missing value is one line, as every other mistake is: the usage block argparse prints
    before it is the start of ``--help``, which the line points to."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser(description: str) -> argparse.ArgumentParser:
    return Parser(description=description, epilog=UNDERSCORE_NOTE, formatter_class=HelpFormatter)


def add(group: argparse._ActionsContainer, name: str, *aliases: str, env: bool = False, **kwargs) -> argparse.Action:
    """Add a flag under its hyphenated and underscored spellings (and any aliases).

    With ``env=True`` the environment variable ``SFTKIT_<DEST>`` supplies the default, so sbatch
    scripts and their callers can set dataset, fields and model without editing anything.
    """
    names: list[str] = []
    for flag in (name, *aliases):
        body = flag[2:]
        for variant in (flag, "--" + body.replace("_", "-"), "--" + body.replace("-", "_")):
            if variant not in names:
                names.append(variant)
    kwargs.setdefault("dest", name[2:].replace("-", "_"))
    if env:
        var = f"SFTKIT_{kwargs['dest'].upper()}"
        kwargs["help"] = f"{kwargs.get('help', '')} [env {var}]".strip()
        if os.environ.get(var):
            kwargs["default"], kwargs["required"] = os.environ[var], False
    return group.add_argument(*names, **kwargs)


def add_input_args(
    p: argparse.ArgumentParser,
    *,
    default_input: str | None = None,
    default_split: str = "train",
    aliases: tuple[str, ...] = (),
    required: bool = True,
) -> None:
    """Input flags; ``required=False`` for commands with another way in (e.g. --from-responses)."""
    g = p.add_argument_group("input")
    add(
        g,
        "--input",
        *aliases,
        required=required and default_input is None,
        default=default_input,
        env=True,
        help="Hub dataset id, local .json/.jsonl/.parquet file, folder, or glob",
    )
    add(g, "--dataset-config", help="Hub dataset configuration (subset)", env=True)
    add(g, "--split", default=default_split, help="Hub dataset split", env=True)
    add(g, "--dataset-spec", help="predecessor form CONFIG[:SPLIT], e.g. 'cot' or 'default:cot'")
    add(
        g,
        "--input-format",
        choices=INPUT_FORMATS,
        default="auto",
        help="'hub' forces datasets.load_dataset, even for a local folder",
    )
    add(g, "--streaming", action="store_true", help="stream a Hub dataset instead of downloading it")
    add(g, "--batch-size", type=int, default=8192, help="rows read per batch")
    add(g, "--max-samples", type=int, help="use only the first N rows of the input")
    add(
        g,
        "--on-bad-record",
        choices=BAD_RECORD_POLICIES,
        default="error",
        help="'error' stops at the first bad row naming its file and line; 'skip' quarantines bad rows "
        "to <output>.rejects.jsonl and counts them",
    )


def add_field_args(p: argparse.ArgumentParser, **defaults: str) -> None:
    g = p.add_argument_group("fields")
    add(
        g,
        "--id-field",
        default=defaults.get("id", "id"),
        env=True,
        help="row id; rows without one get '<file>-<row number>', <file> being its path below the input "
        "folder without extension",
    )
    add(g, "--question-field", default=defaults.get("question", "problem"), env=True)
    add(g, "--answer-field", default=defaults.get("answer", "expected_answer"), env=True)
    add(g, "--solution-field", default=defaults.get("solution", "generated_solution"), env=True)


def add_self_merging_output(p: argparse.ArgumentParser, *, output_help: str, merge_help: str) -> None:
    """--output and checkpointing of a stage whose --merge does a global step over its shards' parts."""
    o = p.add_argument_group("output")
    add(o, "--output", env=True, required=True, help=output_help)
    add(
        o,
        "--save-per-iteration",
        type=int,
        default=50_000,
        dest="checkpoint_every",
        help="checkpoint every N input rows",
    )
    add(o, "--merge", action="store_true", help=merge_help)
    add(o, "--num-shards", type=int, help="with --merge: the expected shard count")


def add_shard_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sharding (inside a SLURM array the shard comes from SLURM_ARRAY_TASK_ID)")
    add(g, "--shard", help="process shard I of N, e.g. 3/8; parts go to <output>.parts/")
    add(g, "--start-from-percentage", help="start of this job's slice, a fraction in [0, 1]")
    add(g, "--end-at-percentage", help="end of this job's slice, a fraction in [0, 1]")
    add(g, "--overwrite", action="store_true", help="redo this shard even if parts or checkpoints exist")


def input_spec(args: argparse.Namespace) -> InputSpec:
    config, split = args.dataset_config, args.split
    if args.dataset_spec:
        spec_config, _, spec_split = args.dataset_spec.partition(":")
        if config and spec_config and config != spec_config:
            raise InputError(f"--dataset_spec {args.dataset_spec!r} disagrees with --dataset-config {config!r}")
        config = spec_config or config
        split = spec_split or split
    # one spelling per local path ('./a/x.jsonl' is 'a/x.jsonl'), so a resume is not refused over it
    path = os.path.normpath(args.input) if args.input and os.path.exists(args.input) else args.input
    return InputSpec(path, config or None, split, args.input_format, args.streaming, args.max_samples)


def shard_of(args: argparse.Namespace) -> Shard:
    return resolve_shard(args.shard, args.start_from_percentage, args.end_at_percentage)


def check_writable(path: str | Path, flag: str = "--output") -> None:
    """Stop before any work or model load when ``path`` (a file or folder to be made) cannot be written: a run
    that finds out at its end loses what it did. Probed in the nearest folder that exists, creating nothing."""
    folder = Path(path).expanduser().absolute().parent
    while not folder.exists():
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".sftkit-write-check-", dir=folder)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write in {folder} ({exc.strerror}); choose another {flag}") from None
    os.close(fd)
    os.unlink(probe)


# OS errors that are the user's to fix (a folder, a disk), said in one line rather than a traceback
_USER_OS_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def run_main(main: Callable[[], int | None]) -> None:
    """Turn InputError (and an OS error that is the user's to fix: permissions, a full disk) into a one-line
    message and exit code 2, and a saved stop into exit code 75. Stop signals are caught from here on, before
    any data or model loads."""
    stopping.install()
    try:
        sys.exit(main() or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in _USER_OS_ERRORS:
            raise
        print(f"error: {exc.filename or ''}: {exc.strerror}".replace("error: : ", "error: "), file=sys.stderr)
        sys.exit(2)
    except Interrupted as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
