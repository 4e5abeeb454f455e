"""The command-line programs behind the thin scripts in selectors/, hpc/ and upload/, one module per stage
(named as in ``sftkit.registry``), each a ``Command``."""

from __future__ import annotations

import argparse
from typing import Protocol, runtime_checkable


@runtime_checkable
class Command(Protocol):
    """What a stage's command module provides. Optional, read with ``getattr``:

    - ``gpus_needed(args) -> int``: GPUs one worker uses with these arguments (default: none);
    - ``SERVER_ENGINES``: the flag prefixes of its engines that can run over HTTP (``--server``).
    """

    def build_parser(self) -> argparse.ArgumentParser: ...

    def main(self, argv: list[str] | None = None) -> int | None: ...
