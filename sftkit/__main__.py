"""The ``sftkit`` command (and ``python -m sftkit``): one name for every stage, tool and Slurm command.

``sftkit STAGE ARGS...`` runs the stage here exactly as its script in selectors/, hpc/ or upload/ does;
``sftkit submit|status|pipeline ...`` hands over to slurm/submit.sh, which only a clone of the repository has
(slurm/ is not in the wheel).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from sftkit import registry
from sftkit.cli import run_main

SUBMIT = Path(__file__).resolve().parent.parent / "slurm" / "submit.sh"
SLURM_COMMANDS = {
    "submit": "[--local] STAGE [--shards N] ... -- ARGS: a stage as Slurm jobs (sftkit submit --help)",
    "status": "RECIPE.yaml: where each stage of a recipe stands",
    "pipeline": "RECIPE.yaml [--dry-run] [--local]: every stage of a recipe, each after the one before",
}


def usage() -> str:
    """The stage map (registry order), the tools and the Slurm commands, a line each."""
    stages = {
        s.name: s.summary + (f" (or {', '.join(s.aliases)})" if s.aliases else "") for s in registry.STAGES.values()
    }
    tools = {t.name: t.summary for t in registry.TOOLS.values()}
    width = max(map(len, [*stages, *tools, *SLURM_COMMANDS]))

    def rows(entries: dict[str, str]) -> list[str]:
        return [f"  {name:<{width}}  {summary}" for name, summary in entries.items()]

    return "\n".join(
        [
            "usage: sftkit STAGE [ARGS...]   run a stage here, as its script does (sftkit STAGE --help: its flags)",
            "       sftkit submit|status|pipeline ...   run slurm/submit.sh (needs a clone of the repository)",
            "",
            "stages, in pipeline order:",
            *rows(stages),
            "tools:",
            *rows(tools),
            "on Slurm:",
            *rows(SLURM_COMMANDS),
        ]
    )


def submit(args: list[str]) -> None:
    """Become slurm/submit.sh, so its exit code and the signals Slurm sends are its own."""
    if not SUBMIT.is_file():
        print(
            f"error: sftkit {args[0]} needs a clone of the repository ({SUBMIT} is not there); "
            "without one, run a stage here with `sftkit STAGE ARGS...`",
            file=sys.stderr,
        )
        sys.exit(2)
    os.execvp("bash", ["bash", str(SUBMIT), *(args[1:] if args[0] == "submit" else args)])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    name = argv[0]
    if name in SLURM_COMMANDS:
        submit(argv)
    try:
        module = registry.TOOLS[name].command if name in registry.TOOLS else registry.stage(name).command
    except registry.UnknownStage as exc:
        print(
            f"error: {exc}; tools: {', '.join(registry.TOOLS)}; on Slurm: {', '.join(SLURM_COMMANDS)}", file=sys.stderr
        )
        sys.exit(2)
    # as the stage's script: its parser reads sys.argv, and names itself after sys.argv[0] in its usage
    sys.argv = [f"sftkit {module.rpartition('.')[2]}", *argv[1:]]
    run_main(importlib.import_module(module).main)


if __name__ == "__main__":
    main()
