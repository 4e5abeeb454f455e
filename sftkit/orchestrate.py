"""What the shell side of slurm/ asks the Python side: a stage's script, output path and missing shards.

    python -m sftkit.orchestrate name STAGE                -> the stage's one name (STAGE may be an alias)
    python -m sftkit.orchestrate script STAGE              -> entry script, relative to the repo
    python -m sftkit.orchestrate sbatch STAGE              -> its slurm/run_*.sh, or one line if it has none
    python -m sftkit.orchestrate sharded STAGE             -> exit 0 if the stage shards, 1 if not
    python -m sftkit.orchestrate output STAGE -- ARGS...   -> the --output those ARGS give the stage
    python -m sftkit.orchestrate missing OUTPUT N [W]      -> array tasks (of N/W) with an incomplete shard
    python -m sftkit.orchestrate writable OUTPUT           -> exit 0, or one line and exit 2 if it cannot be written
    python -m sftkit.orchestrate merge STAGE N -- ARGS...  -> merge the N shards the way the stage merges
    python -m sftkit.orchestrate merge-steps STAGE N -- ARGS
                                                           -> the steps of a partitioned merge, "STEP TASKS" a line
                                                              (one line and exit 2 if the stage has none)
    python -m sftkit.orchestrate gpus-needed STAGE -- ARGS -> GPUs one worker of the stage uses (tp x pp; 0: none)
    python -m sftkit.orchestrate server-flags STAGE MODEL -- ARGS
                                                           -> the rendezvous file of a server job for MODEL, then
                                                              the flags pointing the stage's engines at it
    python -m sftkit.orchestrate split -- FLAG STRING       -> STRING's words as a shell splits them, one a line

Keeping these in Python means the sbatch scripts never re-implement argument defaults or shard names.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from sftkit import registry
from sftkit.commands import Command
from sftkit.data.checkpoint import parts_dir
from sftkit.data.shards import shard_of
from sftkit.errors import InputError
from sftkit.registry import Stage


def stage(name: str) -> Stage:
    """The registry's stage for a name or alias, or one line listing the valid names."""
    try:
        return registry.stage(name)
    except registry.UnknownStage as exc:
        raise InputError(str(exc)) from None


def command(name: str) -> Command:
    return importlib.import_module(stage(name).command)


def output_of(name: str, args: list[str]) -> str:
    return str(command(name).build_parser().parse_args(args).output)


def gpus_needed(name: str, args: list[str]) -> int:
    """GPUs one worker of the stage needs with these arguments: the stage's own ``gpus_needed``, else none."""
    module = command(name)
    needed = getattr(module, "gpus_needed", None)
    return needed(module.build_parser().parse_args(args)) if needed else 0


def server_flags(name: str, model: str, args: list[str]) -> tuple[str, list[str]]:
    """A server job's rendezvous file for this stage (hidden, beside its output: inputs read as folders skip
    it) and the flags that send each of the stage's engines running ``model`` there (its ``SERVER_ENGINES``
    flag prefixes). A stage with one engine and no model given gets ``model``."""
    module = command(name)
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
            raise InputError(
                f"--server {model}: the --{prefix}model flags also name {sorted(set(models) - {model})}, "
                "which one server cannot serve"
            )
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
        return command(name).main([*args, "--merge", *shards])
    from sftkit.commands import merge_shards

    return merge_shards.main(["--output", output_of(name, args), *shards])


def merge_steps(name: str, num_shards: int, args: list[str]) -> list[tuple[str, int]]:
    """The steps of the stage's partitioned merge (arrays of tasks, in order), for ``submit.sh --merge-tasks``."""
    plan = getattr(command(name), "merge_plan", None)
    if plan is None:
        raise InputError(f"--merge-tasks: {stage(name).name} has no partitioned merge; drop --merge-tasks")
    return plan(args, num_shards)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sftkit.orchestrate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("name", "script", "sbatch", "sharded"):
        sub.add_parser(name).add_argument("stage")
    for name in ("output", "gpus-needed"):
        one = sub.add_parser(name)
        one.add_argument("stage")
        one.add_argument("args", nargs=argparse.REMAINDER)
    for name in ("merge", "merge-steps"):
        merge = sub.add_parser(name)
        merge.add_argument("stage")
        merge.add_argument("shards", type=int)
        merge.add_argument("args", nargs=argparse.REMAINDER)
    server = sub.add_parser("server-flags")
    server.add_argument("stage")
    server.add_argument("model")
    server.add_argument("args", nargs=argparse.REMAINDER)
    split = sub.add_parser("split")
    split.add_argument("flag")
    split.add_argument("text")
    missing = sub.add_parser("missing")
    missing.add_argument("output")
    missing.add_argument("shards", type=int)
    missing.add_argument("workers", type=int, nargs="?", default=1)
    sub.add_parser("writable").add_argument("output")
    return p


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    rest = a.args[1:] if getattr(a, "args", None) and a.args[0] == "--" else getattr(a, "args", [])
    if a.command == "name":
        print(stage(a.stage).name)
    elif a.command == "script":
        print(stage(a.stage).script)
    elif a.command == "sbatch":
        found = stage(a.stage)
        if found.sbatch is None:
            raise InputError(f"stage {found.name} has no sbatch script: run python {found.script} where you are")
        print(found.sbatch)
    elif a.command == "sharded":
        return 0 if stage(a.stage).sharded else 1
    elif a.command == "output":
        print(output_of(a.stage, rest))
    elif a.command == "merge":
        return merge_stage(a.stage, a.shards or None, rest)
    elif a.command == "merge-steps":
        print("\n".join(f"{step} {count}" for step, count in merge_steps(a.stage, a.shards, rest)))
    elif a.command == "gpus-needed":
        print(gpus_needed(a.stage, rest))
    elif a.command == "server-flags":
        path, flags = server_flags(a.stage, a.model, rest)
        print("\n".join([path, *flags]))
    elif a.command == "writable":
        from sftkit.cli import check_writable

        check_writable(a.output)
    elif a.command == "split":
        print("\n".join(split_words(a.flag, a.text)))
    else:
        print(",".join(map(str, missing_tasks(a.output, a.shards, a.workers))))
    return 0


if __name__ == "__main__":
    from sftkit.cli import run_main

    run_main(lambda: main(sys.argv[1:]))
