"""Opening a file an operator named (a photo, a video, settings, a CSV): only a regular one.

A path named on a command line or picked in a window can be anything: /dev/zero never ends,
a named pipe waits for a writer for ever, a folder has no bytes. :func:`open_regular_file`
opens without blocking and refuses all three by their type before a byte is read, naming
the file; :func:`read_small_file` and :func:`open_text_file` read through it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TextIO

from inference.errors import InputError


def open_regular_file(path: Path, what: str, error: type[InputError] = InputError) -> int:
    """A descriptor of the regular file at ``path`` (the caller closes it); ``error`` naming
    it as not ``what`` for a device, a pipe or a folder, :class:`OSError` for a file that
    cannot be opened. Opened without blocking: opening a named pipe would otherwise wait
    until something writes to it, for ever."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise error(f"{path} is not {what} (a device, a pipe or a folder)")
    except BaseException:
        os.close(handle)
        raise
    return handle


def open_text_file(
    path: Path,
    what: str,
    error: type[InputError] = InputError,
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> TextIO:
    """The regular file at ``path`` open as text (see :func:`open_regular_file`)."""
    return open(open_regular_file(path, what, error), encoding=encoding, newline=newline)


def read_small_file(
    path: Path, what: str, max_bytes: int, error: type[InputError] = InputError
) -> bytes:
    """The bytes of the regular file at ``path``, of at most ``max_bytes``; ``error`` for
    anything else or a larger file (refused by its size, unread; one that grew meanwhile is
    read one byte past the limit, no further), :class:`OSError` for one that cannot be read."""
    handle = open_regular_file(path, what, error)
    try:
        size = os.fstat(handle).st_size
        data = b"" if size > max_bytes else read_at_most(handle, max_bytes + 1)
    finally:
        os.close(handle)
    if size > max_bytes or len(data) > max_bytes:
        raise error(
            f"{path} is too large for {what} ({max(size, len(data))} bytes, at most {max_bytes})"
        )
    return data


def read_at_most(handle: int, size: int) -> bytes:
    """What ``handle`` holds, up to ``size`` bytes."""
    chunks: list[bytes] = []
    while size > 0 and (chunk := os.read(handle, min(size, 1 << 20))):
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
