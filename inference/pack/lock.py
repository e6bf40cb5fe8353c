"""One install at a time per pack folder: an advisory lock on a file in it.

Two installs into one folder would each read ``installed.json``, add their own model and
write it back, the later one dropping the other's record. A second install therefore waits
for the first (it says so once) rather than failing: both were asked for, and waiting lets
the second find what the first built. ``flock`` locks belong to an open file and the kernel
drops them when their holder dies (SIGKILL included), so a killed install never leaves the
pack locked and there is no stale lock file to clean up.

Readers take no install lock: an install runs for minutes and the app must not wait on it.
Only the instant an install replaces a model (its record out, the file replaced, the record
back) is guarded, by a second lock (:func:`swap_lock`); a reader that finds a model missing
or altered waits for a replacement in progress to end and looks again
(:func:`swap_settled`), so it sees the model before or after, never in between.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_NAME = ".install.lock"
SWAP_LOCK_NAME = ".swap.lock"


@contextlib.contextmanager
def install_lock(root: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold ``root``'s install lock, waiting for another holder to finish first."""
    root.mkdir(parents=True, exist_ok=True)
    waiting = f"another install is running in {root}; waiting for it to finish"
    with _held(root / LOCK_NAME, lambda fd: lock_waiting(fd, on_wait, waiting)):
        yield


@contextlib.contextmanager
def _held(path: Path, take: Callable[[int], None]) -> Iterator[None]:
    """``path`` opened (made where missing) and locked by ``take(fd)`` while held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        take(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_waiting(fd: int, on_wait: Callable[[str], None], waiting: str) -> None:
    """An exclusive ``flock`` on ``fd``; when another holds it, ``on_wait(waiting)`` once,
    then wait for it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        on_wait(waiting)
        fcntl.flock(fd, fcntl.LOCK_EX)


@contextlib.contextmanager
def swap_lock(root: Path) -> Iterator[None]:
    """Held (exclusive) while an install replaces a model in ``root``: short, and taken
    only under the install lock, so it is never waited for long."""
    with _held(root / SWAP_LOCK_NAME, lambda fd: fcntl.flock(fd, fcntl.LOCK_EX)):
        yield


@contextlib.contextmanager
def swap_settled(root: Path, on_wait: Callable[[str], None], waiting: str) -> Iterator[None]:
    """Hold ``root``'s swap lock shared: no replacement is half-done while held. Waits for
    one in progress (``on_wait(waiting)`` once). Opened read-only, as the app may read a
    pack it cannot write; with no lock file, no install of this version ever replaced a
    model there (it makes the file first), so there is nothing to wait for."""
    try:
        fd = os.open(root / SWAP_LOCK_NAME, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(waiting)
            fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
