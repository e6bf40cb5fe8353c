"""Advisory locks on a file beside a store, shared by the sync client and the store.

``flock`` locks belong to an open file, so a second opener in the same process is refused
too, and the kernel drops a lock when its holder dies (SIGKILL included): no stale lock
files to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, *, busy: Callable[[], Exception] | None = None) -> Iterator[None]:
    """Hold ``path``'s exclusive lock (the file is made, 0600, if need be). Without ``busy``
    this waits for another holder; with it, ``busy()`` is raised at once instead."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy else 0))
        except BlockingIOError:
            if busy is None:
                raise
            raise busy() from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class _HeldError(Exception):
    """Another opener holds the lock."""


def held_elsewhere(path: Path) -> bool:
    """Whether another opener holds ``path``'s lock right now (True when it cannot tell)."""
    try:
        with exclusive(path, busy=_HeldError):
            return False
    except (_HeldError, OSError):
        return True
