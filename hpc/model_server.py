"""Entry point: see sftkit/commands/model_server.py, or run with --help (slurm/run_server.sh runs it)."""

from sftkit.cli import run_main
from sftkit.commands.model_server import main

if __name__ == "__main__":
    run_main(main)
