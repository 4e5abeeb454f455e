"""Every stage under its one name, and the files that make it up.

A leaf: it imports nothing of the project, so the orchestration, the merge, the recipes, ``submit.sh``,
the console command and the docs can all read it. A new stage is one entry here plus the files it names
(tests/unit/test_registry.py checks that each exists and that each command module gives its name).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage: what it does in a line, and where each of its parts lives (paths from the repo root)."""

    name: str
    summary: str  # one line, for the stage map in README.md and the docs
    script: str  # the thin entry script a user runs
    core: str  # the library package or module that does the work
    sbatch: str | None  # slurm/run_<name>.sh, or None when it runs only where it is started
    sharded: bool  # splits its input across array tasks (--shard I/N)
    merges_itself: bool = False  # its own --merge (a global step over every shard's parts)
    aliases: tuple[str, ...] = ()  # older names, still accepted
    former_scripts: tuple[str, ...] = ()  # entry scripts of an older name, kept so command lines using them run

    @property
    def command(self) -> str:
        """The module with ``build_parser`` and ``main`` (see ``sftkit.commands.Command``)."""
        return f"sftkit.commands.{self.name}"

    @property
    def docs(self) -> str:
        return f"docs/stages/{self.name}.md"


# In pipeline order: the order of the stage map.
STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "clean",
            "drop rows by Gopher quality rules, language, toxicity; mask PII",
            "selectors/clean.py",
            "sftkit.clean",
            "slurm/run_clean.sh",
            sharded=True,
        ),
        Stage(
            "label_filter",
            "keep rows whose recorded pass rate is in a range",
            "selectors/label_filter.py",
            "sftkit.select.label_filter",
            "slurm/run_label_filter.sh",
            sharded=True,
        ),
        Stage(
            "dedup",
            "drop exact and MinHash near duplicates",
            "selectors/dedup.py",
            "sftkit.dedup",
            "slurm/run_dedup.sh",
            sharded=True,
            merges_itself=True,
        ),
        Stage(
            "semdedup",
            "drop meaning-level duplicates: embedding cosine, k-means partitioned",
            "selectors/semdedup.py",
            "sftkit.semdedup",
            "slurm/run_semdedup.sh",
            sharded=True,
            merges_itself=True,
        ),
        Stage(
            "decontaminate",
            "drop or flag rows that overlap benchmark problems",
            "selectors/decontaminate.py",
            "sftkit.decontaminate",
            "slurm/run_decontaminate.sh",
            sharded=True,
            merges_itself=True,
        ),
        Stage(
            "length_selector",
            "pick N rows by length on a half-Gaussian",
            "selectors/length_selector.py",
            "sftkit.select.length",
            "slurm/run_length_selector.sh",
            sharded=False,
        ),
        Stage(
            "generate",
            "write new problems from seed problems with a model",
            "hpc/generate.py",
            "sftkit.generate",
            "slurm/run_generate.sh",
            sharded=True,
            aliases=("generate_from_seed",),
            former_scripts=("hpc/generate_from_seed.py",),
        ),
        Stage(
            "filter",
            "solve each problem k times, verify and judge, keep by pass rate",
            "hpc/filter.py",
            "sftkit.filter",
            "slurm/run_filter.sh",
            sharded=True,
            aliases=("llm_filter",),
            former_scripts=("hpc/llm_filter.py",),
        ),
        Stage(
            "score",
            "score rows with several LLM judges against a rubric, keep them by votes",
            "hpc/score.py",
            "sftkit.score",
            "slurm/run_score.sh",
            sharded=True,
            merges_itself=True,
        ),
        Stage(
            "difficulty_scorer",
            "score difficulty: gold log-probability, ensemble accuracy, IRT",
            "hpc/difficulty_scorer.py",
            "sftkit.difficulty",
            "slurm/run_difficulty_scorer.sh",
            sharded=True,
            merges_itself=True,
        ),
        Stage(
            "difficulty_selector",
            "pick rows by difficulty score, in quotas per bin",
            "selectors/difficulty_selector.py",
            "sftkit.select.difficulty",
            "slurm/run_difficulty_selector.sh",
            sharded=False,
        ),
        Stage(
            "export_sft",
            "write one training set: messages, ShareGPT or Alpaca, with splits and a card",
            "upload/export_sft.py",
            "sftkit.export",
            None,
            sharded=False,
        ),
        Stage(
            "upload",
            "convert to Parquet, write the dataset card, push to the Hub",
            "upload/upload_data.py",
            "sftkit.upload",
            "slurm/run_upload.sh",
            sharded=False,
            aliases=("upload_data",),
        ),
    )
}


@dataclass(frozen=True)
class Tool:
    """A command that is not a stage of a pipeline: it serves or joins stages."""

    name: str
    summary: str
    script: str
    sbatch: str | None

    @property
    def command(self) -> str:
        return f"sftkit.commands.{self.name}"


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "model_server",
            "serve a model (vLLM, several nodes with Ray) for the stages' --server-file",
            "hpc/model_server.py",
            "slurm/run_server.sh",
        ),
        Tool("merge_shards", "join a sharded stage's parts into its output", "hpc/merge_shards.py", "slurm/merge.sh"),
    )
}

ALIASES: dict[str, str] = {alias: s.name for s in STAGES.values() for alias in s.aliases}


class UnknownStage(ValueError):
    """A name that is no stage nor alias; its message lists the valid names."""


def names_line() -> str:
    """The valid names, aliases shown after the stage they name."""
    return ", ".join(s.name + (f" (or {', '.join(s.aliases)})" if s.aliases else "") for s in STAGES.values())


def canonical(name: str) -> str:
    """The stage's one name, for a name or an alias."""
    name = ALIASES.get(name, name)
    if name not in STAGES:
        raise UnknownStage(f"unknown stage {name!r}; the stages are: {names_line()}")
    return name


def stage(name: str) -> Stage:
    return STAGES[canonical(name)]
