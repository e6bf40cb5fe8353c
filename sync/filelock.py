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


class HeldLock:
    """``path``'s lock, held through one open file description from ``take`` to ``release``.

    Every request is answered at once: ``take`` says whether it got the lock. The file holds
    nothing and is left readable by all (on a local file system flock needs only a read-only
    descriptor), so that whichever user makes it first, root running a command by hand
    included, locks no other user of the same store out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:  # made by another user
            self._fd = os.open(path, os.O_RDONLY)
        # Not narrowed by a umask of 077; a file system without modes (FAT) refuses: no harm.
        with contextlib.suppress(OSError):
            if os.fstat(self._fd).st_uid == os.geteuid():
                os.fchmod(self._fd, 0o644)

    def take(self, *, exclusive: bool) -> bool:
        """Take the lock shared or exclusive, or turn the one held into the other. False
        when another holder is in the way; a turn that fails has let go of the lock held
        before (flock(2) drops it first), and says so by returning False."""
        kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(self._fd, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        # Any other OSError goes up: the file system cannot lock it (NFS without its lock
        # manager: ENOLCK; an exclusive lock through a read-only descriptor there: EBADF).
        return True

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the last descriptor of it lets go of the lock
            self._fd = -1
