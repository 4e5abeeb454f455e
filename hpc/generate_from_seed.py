"""Entry point: see sftkit/commands/generate_from_seed.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.generate_from_seed import main

if __name__ == "__main__":
    run_main(main)
