"""Entry point: see sftkit/commands/difficulty_selector.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.difficulty_selector import main

if __name__ == "__main__":
    run_main(main)
