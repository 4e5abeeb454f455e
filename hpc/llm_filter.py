"""The filter stage under its former script name: the same as hpc/filter.py (sftkit/registry.py)."""

from sftkit.cli import run_main
from sftkit.commands.filter import main

if __name__ == "__main__":
    run_main(main)
