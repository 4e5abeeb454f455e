"""Entry point: see sftkit/commands/export_sft.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.export_sft import main

if __name__ == "__main__":
    run_main(main)
