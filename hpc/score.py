"""Entry point: see sftkit/commands/score.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.score import main

if __name__ == "__main__":
    run_main(main)
