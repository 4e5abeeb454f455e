"""Entry point: see sftkit/commands/llm_filter.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.llm_filter import main

if __name__ == "__main__":
    run_main(main)
