"""File content hashes, read in blocks so a part of many gigabytes is never held whole."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """A file's sha256, read in blocks: parts and arrays are checked against it before a merge trusts them."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
