"""What the shell side of slurm/ asks the Python side: a stage's script, output path and missing shards.

    python -m sftkit.orchestrate script STAGE              -> entry script, relative to the repo
    python -m sftkit.orchestrate output STAGE -- ARGS...   -> the --output those ARGS give the stage
    python -m sftkit.orchestrate missing OUTPUT N [W]      -> array tasks (of N/W) with an incomplete shard
    python -m sftkit.orchestrate merge STAGE N -- ARGS...  -> merge the N shards the way the stage merges
    python -m sftkit.orchestrate gpus-needed STAGE -- ARGS -> GPUs one worker of the stage uses (tp x pp; 0: none)
    python -m sftkit.orchestrate server-flags STAGE MODEL -- ARGS
                                                           -> the rendezvous file of a server job for MODEL, then
                                                              the flags pointing the stage's engines at it
    python -m sftkit.orchestrate split FLAG STRING          -> STRING's words as a shell splits them, one a line

Keeping these in Python means the sbatch scripts never re-implement argument defaults or shard names.
"""

from __future__ import annotations

import importlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sftkit.data.checkpoint import parts_dir
from sftkit.data.errors import InputError
from sftkit.data.shards import shard_of


@dataclass(frozen=True)
class Stage:
    module: str
    script: str
    sharded: bool
    merges_itself: bool = False  # its own `--merge` (e.g. a global fit after joining the parts)


STAGES = {
    "label_filter": Stage("sftkit.commands.label_filter", "selectors/label_filter.py", True),
    "length_selector": Stage("sftkit.commands.length_selector", "selectors/length_selector.py", False),
    "difficulty_selector": Stage("sftkit.commands.difficulty_selector", "selectors/difficulty_selector.py", False),
    "upload": Stage("sftkit.commands.upload_data", "upload/upload_data.py", False),
    "filter": Stage("sftkit.commands.llm_filter", "hpc/llm_filter.py", True),
    "generate": Stage("sftkit.commands.generate_from_seed", "hpc/generate_from_seed.py", True),
    "difficulty_scorer": Stage("sftkit.commands.difficulty_scorer", "hpc/difficulty_scorer.py", True, True),
    "dedup": Stage("sftkit.commands.dedup", "selectors/dedup.py", True, True),
    "decontaminate": Stage("sftkit.commands.decontaminate", "selectors/decontaminate.py", True, True),
}


def stage(name: str) -> Stage:
    if name not in STAGES:
        raise InputError(f"unknown stage {name!r}; one of: {', '.join(STAGES)}")
    return STAGES[name]


def output_of(name: str, args: list[str]) -> str:
    parser = importlib.import_module(stage(name).module).build_parser()
    return str(parser.parse_args(args).output)


def gpus_needed(name: str, args: list[str]) -> int:
    """GPUs one worker of the stage needs with these arguments: the stage's own ``gpus_needed``, else none."""
    module = importlib.import_module(stage(name).module)
    needed = getattr(module, "gpus_needed", None)
    return needed(module.build_parser().parse_args(args)) if needed else 0


def server_flags(name: str, model: str, args: list[str]) -> tuple[str, list[str]]:
    """A server job's rendezvous file for this stage (hidden, beside its output: inputs read as folders skip
    it) and the flags that send each of the stage's engines running ``model`` there (its ``SERVER_ENGINES``
    flag prefixes). A stage with one engine and no model given gets ``model``."""
    module = importlib.import_module(stage(name).module)
    prefixes = getattr(module, "SERVER_ENGINES", ())
    if not prefixes:
        raise InputError(f"stage {name} cannot use a model server (--server): none of its engines runs over HTTP")
    parsed = module.build_parser().parse_args(args)
    output = Path(parsed.output).absolute()
    path = str(output.with_name(f".{output.name}.server.json"))
    flags = []
    for prefix in prefixes:
        given = getattr(parsed, f"{prefix.replace('-', '_')}model")
        models = given if isinstance(given, list) else [given]
        if model in models and len(set(models)) > 1:  # one flag for all judges, and a server serves one model
            raise InputError(f"--server {model}: the --{prefix}model flags also name {sorted(set(models) - {model})}, "
                             "which one server cannot serve")
        if model in models:
            flags += [f"--{prefix}server-file", path]
        elif given is None and len(prefixes) == 1:
            flags += [f"--{prefix}model", model, f"--{prefix}server-file", path]
    if not flags:
        models = " or ".join(f"--{p}model" for p in prefixes)
        raise InputError(f"--server {model}: no engine of stage {name} runs it; give {models} {model}")
    return path, flags


def split_words(flag: str, text: str) -> list[str]:
    """A list of arguments given as one string (--server-args "..."), split as a shell would: quoted words stay
    whole. One a line for bash's mapfile, so a word may not hold a line break."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"{flag} {text!r}: {exc}") from None
    if any("\n" in w for w in words):
        raise InputError(f"{flag} {text!r}: a word holds a line break")
    return words


def missing_tasks(output: str, shards: int, workers: int = 1) -> list[int]:
    """Array tasks owning at least one shard without a completion marker."""
    folder = parts_dir(output)
    done = {p.name for p in folder.glob("*.done")} if folder.exists() else set()
    return sorted({i // workers for i in range(shards) if f"{shard_of(i, shards, 'N').name}.done" not in done})


def merge_stage(name: str, num_shards: int | None, args: list[str]) -> int:
    """The merge job: the generic ordered join, or the stage's own ``--merge`` with its arguments."""
    shards = ["--num-shards", str(num_shards)] if num_shards else []
    if stage(name).merges_itself:
        return importlib.import_module(stage(name).module).main([*args, "--merge", *shards])
    from sftkit.commands import merge_shards

    return merge_shards.main(["--output", output_of(name, args), *shards])


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command == "script":
        print(stage(rest[0]).script)
    elif command == "sharded":
        return 0 if stage(rest[0]).sharded else 1
    elif command == "output":
        args = rest[2:] if rest[1:2] == ["--"] else rest[1:]
        print(output_of(rest[0], args))
    elif command == "merge":
        args = rest[3:] if rest[2:3] == ["--"] else rest[2:]
        return merge_stage(rest[0], int(rest[1]) or None, args)
    elif command == "gpus-needed":
        args = rest[2:] if rest[1:2] == ["--"] else rest[1:]
        print(gpus_needed(rest[0], args))
    elif command == "server-flags":
        path, flags = server_flags(rest[0], rest[1], rest[3:] if rest[2:3] == ["--"] else rest[2:])
        print("\n".join([path, *flags]))
    elif command == "split":
        print("\n".join(split_words(rest[0], rest[1])))
    elif command == "missing":
        print(",".join(map(str, missing_tasks(rest[0], int(rest[1]), int(rest[2]) if len(rest) > 2 else 1))))
    else:
        raise InputError(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    from sftkit.cli import run_main

    run_main(lambda: main(sys.argv[1:]))
