"""The generate stage under its former script name: the same as hpc/generate.py (sftkit/registry.py)."""

from sftkit.cli import run_main
from sftkit.commands.generate import main

if __name__ == "__main__":
    run_main(main)
