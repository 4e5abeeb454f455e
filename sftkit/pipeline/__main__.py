"""slurm/submit.sh pipeline RECIPE.yaml [--dry-run] [--local] | slurm/submit.sh status RECIPE.yaml"""

from __future__ import annotations

import argparse
import sys

from sftkit import cli
from sftkit.pipeline import recipe, run, status
from sftkit.pipeline.plan import plan


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser(__doc__)
    p.prog = "slurm/submit.sh"  # how it is run (also as `sftkit status|pipeline`): errors point at its --help
    sub = p.add_subparsers(dest="command", required=True, prog=p.prog)
    start = sub.add_parser("pipeline", help="submit every stage of a recipe, each waiting for the one before")
    start.add_argument("recipe")
    mode = start.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the sbatch commands; submit nothing")
    mode.add_argument("--local", action="store_true", help="run the stages here, one after the other")
    where = sub.add_parser("status", help="where each stage of a recipe stands")
    where.add_argument("recipe")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    loaded = recipe.load(args.recipe)
    steps = plan(loaded)
    if args.command == "status":
        return status.show(loaded, steps, args.recipe)
    return run.start(loaded, steps, args.recipe, dry_run=args.dry_run, local=args.local)


if __name__ == "__main__":
    cli.run_main(lambda: main(sys.argv[1:]))
