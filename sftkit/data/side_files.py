"""Which files under an input folder or glob are data, and which are a stage's own outputs or hidden."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from sftkit.data.files import FILE_FORMATS
from sftkit.errors import InputError

SIDE_DIRS = (".parts", ".passes", ".ckpt")  # <output><suffix>/: a stage's parts, passes, checkpoints
_SIDE_FILES = (".rejects.jsonl", ".stats.json", ".done")


def side_file(relative: Path) -> str | None:
    """Why a file under an input folder is one of ours or hidden rather than data, or None if it is data.

    A folder that also holds earlier outputs must not feed their parts, rejects, stats or
    checkpoints back in as rows.
    """
    for part in relative.parts[:-1]:
        if part.startswith("."):
            return "hidden"
        if part.endswith(SIDE_DIRS):
            return f"in {part[part.rindex('.') :]}/"
    if relative.name.startswith("."):
        return "hidden"
    return next((f"*{suffix}" for suffix in _SIDE_FILES if relative.name.endswith(suffix)), None)


OUR_OUTPUT = "outputs of a stage (a .stats.json beside them: pass the file itself to read one)"


def data_files(paths: list[Path], root: Path, what: str) -> list[str]:
    """The data files among ``paths``; says how many were read and which were skipped, and why. A file with a
    stage's ``.stats.json`` beside it is that stage's output: written into its own input folder, it would be
    read back as input by the next run on that folder."""
    ours = {p for p in paths if p.with_name(p.name + ".stats.json").is_file()}
    why = {p: side_file(p.relative_to(root)) or (OUR_OUTPUT if p in ours else None) for p in paths}
    skipped = Counter(reason for reason in why.values() if reason is not None)
    found = sorted(str(p) for p in paths if why[p] is None)
    if not found:
        raise InputError(
            f"--input {what}: no {'/'.join(FILE_FORMATS)} data files"
            + (f" (skipped {_counts(skipped)})" if skipped else "")
        )
    print(
        f"input {what}: {len(found):,} file{'s' * (len(found) != 1)} read"
        + (f", skipped {_counts(skipped)}" if skipped else ""),
        file=sys.stderr,
    )
    return found


def _counts(skipped: Counter) -> str:
    return ", ".join(f"{n:,} {why}" for why, n in sorted(skipped.items()))
