"""Entry point: see sftkit/commands/merge_shards.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.merge_shards import main

if __name__ == "__main__":
    run_main(main)
