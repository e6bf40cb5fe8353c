"""One sync at a time per store: an advisory lock on a file beside it.

The background service and ``jaga sync now`` may both try to sync the same store. Only the
holder of this lock may move outbox entries through ``sent``, which is what makes requeueing
a dead sync's ``sent`` entries safe. ``flock`` locks belong to an open file, so a second
opener in the same process is refused too, and the kernel drops the lock when its holder
dies (SIGKILL included): no stale lock files to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sync.client.errors import SyncBusyError


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".sync.lock")


@contextlib.contextmanager
def sync_lock(store_path: Path) -> Iterator[None]:
    """Hold the store's sync lock, or raise ``SyncBusyError`` at once."""
    path = lock_path(store_path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SyncBusyError(f"another sync of {store_path} is running") from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
