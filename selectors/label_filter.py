"""Entry point: see sftkit/commands/label_filter.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.label_filter import main

if __name__ == "__main__":
    run_main(main)
