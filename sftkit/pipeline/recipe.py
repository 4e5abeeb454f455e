"""A recipe: the stages of a run in order, each with its own flags and cluster options (YAML).

    name: hard-math                  # optional; default: the file name
    workdir: results/hard-math       # optional; default results/<name>: outputs, logs, pipeline records
    defaults: {time: "04:00:00"}     # optional cluster options for every stage
    stages:
      - stage: label_filter          # a stage of slurm/submit.sh
        name: hard                   # optional, unique; default: the stage
        input: nvidia/OpenMathReasoning   # optional; default: the previous stage's output
        from: NAME                   # optional: read this earlier stage's output instead of the previous one
        output: results/x.jsonl      # optional; default <workdir>/<name>.jsonl
        args: {filter-by-pass-rate: 0.1, dataset-spec: cot}   # the stage's own flags (true: a switch)
        shards: 8                    # cluster options: shards, merge_tasks, max_parallel, workers_per_task, gres, time,
        gres: gpu:1                  #   mem, cpus, partition, sbatch (a list of extra sbatch options),
        server: {model: M, gres: "gpu:8", nodes: 2}  # and server (a model server job for the stage)
      - stage: upload
        configs: {hard: hard}        # upload only: config name -> stage whose output it publishes
        args: {repo-id: you/name, dry-run: true}

Mistakes stop loading with one line naming the file, the stage (index and name) and the field.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sftkit.errors import InputError
from sftkit.orchestrate import command, stage

CLUSTER_KEYS = (
    "shards",
    "merge_tasks",
    "max_parallel",
    "workers_per_task",
    "gres",
    "time",
    "mem",
    "cpus",
    "partition",
    "sbatch",
    "server",
)
SERVER_KEYS = ("model", "gres", "nodes", "args", "sbatch")
STAGE_KEYS = ("stage", "name", "input", "from", "output", "args", "configs", *CLUSTER_KEYS)
TOP_KEYS = ("name", "workdir", "defaults", "stages")


@dataclass
class StageSpec:
    index: int  # 1-based, as the error messages count
    stage: str
    name: str
    args: list[str]
    cluster: dict[str, Any]
    input: str | None = None
    source: str | None = None  # `from:`, the earlier stage whose output this one reads
    output: str | None = None
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def sharded(self) -> bool:
        return bool(self.cluster.get("shards"))


@dataclass
class Recipe:
    path: Path
    name: str
    workdir: Path
    stages: list[StageSpec]

    def where(self, spec: StageSpec | None = None, key: str | None = None) -> str:
        """``recipe.yaml: stage 2 (filter), field 'shards'`` for error messages."""
        at = f" stage {spec.index} ({spec.name})" if spec else ""
        return f"{self.path}:{at}{f' field {key!r}' if key else ''}".rstrip(":")


def _fail(where: str, problem: str) -> InputError:
    return InputError(f"{where}: {problem}")


def repeatable(name: str) -> frozenset[str]:
    """The stage's flags given once per value (``--benchmark a --benchmark b``), read from its parser."""
    parser = command(name).build_parser()
    return frozenset(
        flag
        for action in parser._actions
        if isinstance(action, argparse._AppendAction)
        for flag in action.option_strings
    )


def flags(mapping: Any, where: str, repeated: frozenset[str] = frozenset()) -> list[str]:
    """``{flag: value}`` as command-line words: ``true`` a bare switch, ``false`` left out, a list
    one flag followed by its values (or, for a flag in ``repeated``, the flag before each value). A
    leading ``--`` is optional."""
    if not isinstance(mapping, dict):
        raise _fail(where, f"must be a mapping of flag: value, not {type(mapping).__name__}")
    words: list[str] = []
    for key, value in mapping.items():
        flag = key if str(key).startswith("-") else f"--{key}"
        if value is None or isinstance(value, dict):
            raise _fail(where, f"{flag} needs a value (true for a switch), got {value!r}")
        if value is False:
            continue
        if value is True:
            words.append(flag)
        elif isinstance(value, list) and flag in repeated:
            words += [word for v in value for word in (flag, str(v))]
        else:
            words += [flag, *([str(v) for v in value] if isinstance(value, list) else [str(value)])]
    return words


def _cluster(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key in CLUSTER_KEYS:
        if key not in raw:
            continue
        value = raw[key]
        if key in ("shards", "merge_tasks", "max_parallel", "workers_per_task", "cpus"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _fail(f"{where} field {key!r}", f"must be a whole number >= 1, not {value!r}")
        elif key == "sbatch":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _fail(f"{where} field 'sbatch'", "must be a list of sbatch options, e.g. [--qos=high]")
        elif key == "server":
            value = {"model": value} if isinstance(value, str) else value
            if not isinstance(value, dict) or "model" not in value or set(value) - set(SERVER_KEYS):
                raise _fail(
                    f"{where} field 'server'",
                    f"must be a model name or a mapping with 'model' and "
                    f"optionally {', '.join(SERVER_KEYS[1:])}, not {value!r}",
                )
        elif not isinstance(value, str):  # YAML reads an unquoted 02:00:00 as the number 7200
            raise _fail(
                f"{where} field {key!r}", f'must be a quoted string (e.g. "02:00:00", "gpu:2", "64G"), not {value!r}'
            )
        out[key] = value
    return out


def load(path: str | Path) -> Recipe:
    """Read and check a recipe: every mistake is one line naming file, stage and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such recipe file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a recipe is a mapping with a 'stages' list")
    unknown = set(raw) - set(TOP_KEYS)
    if unknown:
        raise InputError(f"{path}: unknown field {sorted(unknown)[0]!r}; the fields are {', '.join(TOP_KEYS)}")
    name = str(raw.get("name") or path.stem)
    recipe = Recipe(path, name, Path(str(raw.get("workdir") or f"results/{name}")), [])
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - set(CLUSTER_KEYS):
        raise InputError(f"{path}: field 'defaults' takes only cluster options ({', '.join(CLUSTER_KEYS)})")
    stages = raw.get("stages")
    if not isinstance(stages, list) or not stages:
        raise InputError(f"{path}: field 'stages' must be a non-empty list")
    names: set[str] = set()
    for index, entry in enumerate(stages, 1):
        where = f"{path}: stage {index}"
        if not isinstance(entry, dict) or "stage" not in entry:
            raise _fail(where, "must be a mapping with a 'stage' field")
        try:
            entry = {**entry, "stage": stage(str(entry["stage"])).name}
        except InputError as exc:
            raise _fail(f"{where} field 'stage'", str(exc)) from None
        spec_name = str(entry.get("name") or entry["stage"])
        where = f"{path}: stage {index} ({spec_name})"
        unknown = set(entry) - set(STAGE_KEYS)
        if unknown:
            raise _fail(f"{where} field {sorted(unknown)[0]!r}", f"unknown; a stage takes {', '.join(STAGE_KEYS)}")
        if spec_name in names:
            raise _fail(f"{where} field 'name'", f"{spec_name!r} is already the name of an earlier stage")
        source = entry.get("from")
        if source is not None and str(source) not in names:
            raise _fail(f"{where} field 'from'", f"no earlier stage is named {source!r}")
        if "input" in entry and source is not None:
            raise _fail(where, "give 'input' or 'from', not both")
        configs = entry.get("configs") or {}
        if configs and entry["stage"] != "upload":
            raise _fail(f"{where} field 'configs'", "only the upload stage publishes configs")
        if not isinstance(configs, dict) or any(str(s) not in names for s in configs.values()):
            raise _fail(f"{where} field 'configs'", f"must map config names to earlier stages ({', '.join(names)})")
        cluster = {**_cluster(defaults, f"{path}: defaults"), **_cluster(entry, where)}
        if "merge_tasks" in cluster and not (cluster.get("shards") and hasattr(command(entry["stage"]), "merge_plan")):
            raise _fail(f"{where} field 'merge_tasks'", "splits the partitioned merge of a sharded dedup: add shards")
        recipe.stages.append(
            StageSpec(
                index,
                entry["stage"],
                spec_name,
                flags(entry.get("args") or {}, f"{where} field 'args'", repeatable(entry["stage"])),
                cluster,
                None if entry.get("input") is None else str(entry["input"]),
                None if source is None else str(source),
                None if entry.get("output") is None else str(entry["output"]),
                {str(k): str(v) for k, v in configs.items()},
            )
        )
        names.add(spec_name)
    return recipe
