"""Durable writes: a file's bytes, and its new name after a rename, survive a power cut only
once the file, then its folder, are synced."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Sync a file's bytes, or a folder's entries (the names a rename changed).

    Raises OSError where the file system cannot.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
