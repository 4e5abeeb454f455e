"""From a recipe to each stage's arguments: who reads whose output, and where outputs go.

Each stage reads the previous stage's output (or the one its ``from:`` names) through the flag in
``INPUT_FLAG``; the difficulty selector also gets that stage's own input as ``--input``, the rows its
scores are joined back to, with that stage's input and field options it also takes (``--split``,
``--dataset-config``, ``--input-format``, ``--max-samples``, ``--id-field``...). The upload stage
publishes a dataset folder whose configs link to the outputs of the stages in ``configs:``. Every
stage's arguments are checked by the stage's own parser before anything is submitted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from sftkit.engines.base import RUNTIME_SETTINGS
from sftkit.errors import InputError
from sftkit.orchestrate import command
from sftkit.orchestrate import stage as stage_of
from sftkit.pipeline.recipe import Recipe, StageSpec

INPUT_FLAG = {"difficulty_selector": "--scores", "upload": "--dataset-path"}  # every other stage: --input
JOIN_FLAG = {"difficulty_selector": "--input"}  # gets the input of the stage whose output it reads
JOIN_GROUPS = ("input", "fields")  # ... with that stage's options of these groups that it also takes


# options that change how a stage runs, not what it makes (the shards' own fingerprints leave them out
# too): changing them keeps a stage done, and keeps the complete shards of one that is not
RUN_ONLY = RUNTIME_SETTINGS | {"on_bad_record"}


@dataclass
class Step:
    spec: StageSpec
    argv: list[str]  # the stage's arguments, input and output included
    output: str | None  # what later stages read; None for the upload
    input: str | None
    parser: argparse.ArgumentParser
    options: argparse.Namespace  # argv as the stage's parser reads it
    links: dict[Path, Path] = field(default_factory=dict)  # upload: dataset folder entry -> file it publishes

    @property
    def settings(self) -> str:
        """What decides the stage's result: the stage and its options, defaults included (not shards,
        GPUs, time or RUN_ONLY)."""
        options = {k: v for k, v in sorted(vars(self.options).items()) if k not in RUN_ONLY}
        return hashlib.sha256(orjson.dumps([self.spec.stage, options], default=str)).hexdigest()[:16]


def _parser(spec: StageSpec, where: str) -> argparse.ArgumentParser:
    parser = command(spec.stage).build_parser()

    def error(message: str) -> None:
        raise InputError(f"{where} field 'args': {message}")

    parser.error = error  # type: ignore[method-assign]
    return parser


def _dest(parser: argparse.ArgumentParser, flag: str) -> str:
    return parser._option_string_actions[flag].dest


def _single(value: object) -> object:
    """A flag's value as the recipe wires it: one path, also where the flag takes several (export_sft --input)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _join_options(source: Step, parser: argparse.ArgumentParser) -> list[str]:
    """The options of ``source``'s input and field groups (split, config, format, max samples, id
    field...) that ``parser`` also takes, as set for ``source``: the rows joined are the ones it read."""
    words: list[str] = []
    for group in source.parser._action_groups:
        for action in group._group_actions if group.title in JOIN_GROUPS else ():
            flag = action.option_strings[0]
            value = getattr(source.options, action.dest)
            if flag == "--input" or flag not in parser._option_string_actions or value == action.default:
                continue
            words += [flag] if value is True else [flag, *map(str, value if isinstance(value, list) else [value])]
    return words


def plan(recipe: Recipe) -> list[Step]:
    steps: dict[str, Step] = {}
    previous: Step | None = None
    for spec in recipe.stages:
        where = recipe.where(spec)
        if spec.sharded and not stage_of(spec.stage).sharded:
            raise InputError(f"{where} field 'shards': {spec.stage} runs as one job; drop 'shards'")
        parser = _parser(spec, where)
        source = steps[spec.source] if spec.source else previous
        flag = INPUT_FLAG.get(spec.stage, "--input")
        links: dict[Path, Path] = {}
        if spec.stage == "upload":
            given = spec.input or str(recipe.workdir / "dataset")
            configs = spec.configs or ({source.spec.name: source.spec.name} if source and not spec.input else {})
            for config, name in configs.items():
                made = steps[name].output
                if made is None:
                    raise InputError(f"{where} field 'configs': stage {name!r} has no output to publish")
                for path in (Path(made), Path(f"{made}.stats.json")):
                    links[Path(given) / config / path.name] = path
        else:
            if source and source.output is None and spec.input is None:
                raise InputError(
                    f"{where}: it would read the output of {source.spec.name!r}, which has none; "
                    "give it an 'input' or 'from'"
                )
            given = spec.input or (source.output if source else None)
        injected = [flag, given] if given else []
        join = JOIN_FLAG.get(spec.stage)
        if join and source and source.input and spec.input is None:
            injected += [join, source.input, *_join_options(source, parser)]
        output = spec.output or (None if spec.stage == "upload" else str(recipe.workdir / f"{spec.name}.jsonl"))
        injected += ["--output", output] if output else []
        args = parser.parse_args([*injected, *spec.args])
        for name, value in ((flag, given), ("--output", output)):
            if name in parser._option_string_actions and _single(getattr(args, _dest(parser, name))) != (
                value if value is not None else parser.get_default(_dest(parser, name))
            ):
                what = "input" if name == flag else "output"
                raise InputError(
                    f"{where} field 'args': {name} is set by the recipe's wiring; give it as the "
                    f"stage's '{what}' field instead"
                )
        same = next((s.spec.name for s in steps.values() if output and s.output == output), None)
        if same:
            raise InputError(f"{where} field 'output': {output} is already the output of stage {same!r}")
        step = Step(spec, [*injected, *spec.args], output, given, parser, args, links)
        steps[spec.name] = previous = step
    return list(steps.values())


def relative_link(link: Path, target: Path) -> str:
    """The symlink text for ``link -> target``, relative, so the dataset folder can move with its run."""
    return os.path.relpath(target.absolute(), link.parent.absolute())
