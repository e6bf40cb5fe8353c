"""Reading a file an operator named (a store, a key file, a key header): only a regular one.

A path given on a command line can be anything: reading /dev/zero never ends (and a key file
was read whole, gigabytes of it), a named pipe waits for a writer for ever, a folder has no
bytes. So a file is opened without blocking, refused by its type before a byte is read, and
read no further than its limit allows. The twin of ``inference.regular_file``: the
packages share no code.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sync.errors import SyncError


def open_regular_file(path: Path, what: str, error: type[SyncError]) -> int:
    """A descriptor of the regular file at ``path`` (the caller closes it); ``error`` naming
    it as not ``what`` for a device, a pipe or a folder, ``OSError`` for a file that cannot be
    opened. Opened without blocking: opening a named pipe would otherwise wait for a writer."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise error(f"{path} is not {what} (a device, a pipe or a folder)")
    except BaseException:
        os.close(handle)
        raise
    return handle


def read_small_file(path: Path, what: str, max_bytes: int, error: type[SyncError]) -> bytes:
    """The bytes of the regular file at ``path``, of at most ``max_bytes``; ``error`` for
    anything else or a larger file (refused by its size, unread; one that grew meanwhile is
    read one byte past the limit, no further), ``OSError`` for one that cannot be read."""
    handle = open_regular_file(path, what, error)
    try:
        size = os.fstat(handle).st_size
        data = b"" if size > max_bytes else _read_at_most(handle, max_bytes + 1)
    finally:
        os.close(handle)
    if size > max_bytes or len(data) > max_bytes:
        raise error(
            f"{path} is too large for {what} ({max(size, len(data))} bytes, at most {max_bytes})"
        )
    return data


def _read_at_most(handle: int, size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(handle, min(size, 1 << 16))):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
