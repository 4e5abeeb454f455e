"""Entry point: see sftkit/commands/clean.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.clean import main

if __name__ == "__main__":
    run_main(main)
