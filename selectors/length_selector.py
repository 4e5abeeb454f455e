"""Entry point: see sftkit/commands/length_selector.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.length_selector import main

if __name__ == "__main__":
    run_main(main)
