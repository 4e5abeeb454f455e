"""Entry point: see sftkit/commands/upload_data.py, or run with --help."""

from sftkit.cli import run_main
from sftkit.commands.upload_data import main

if __name__ == "__main__":
    run_main(main)
