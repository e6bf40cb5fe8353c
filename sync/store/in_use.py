"""Who has a store open: a lock beside it that a restore or a key change must have alone.

Every open ``Store`` holds ``<store>.in-use`` shared, from ``open`` to ``close``.
``restore`` and ``change_key`` take it exclusively, without waiting: while the app, a sync or
any other command has the store open, they refuse and change nothing. Without it, a restore
under a running kiosk moves the store aside while the kiosk goes on writing to the old file
(its access events, enrolments and erasures never reach the restored store or the hub), and a
key change leaves the kiosk's connection unable to read. In turn, an open is refused while a
restore or key change runs. The lock is on a file of its own, apart from the sync lock
(``sync.client.lock``) and the key change's (``sync.store.store_open.key_change_lock``), and
beside the store's *name*, so it goes on covering the path when a restore renames another
file there. The kernel drops the lock of a holder that dies, SIGKILL included
(``sync.filelock``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sync.errors import StoreInUseError, StoreIOError
from sync.filelock import HeldLock

IN_USE_SUFFIX = ".in-use"
WHAT_TO_STOP = (
    "stop the app (jaga-kiosk.service), jaga-sync (jaga-sync.timer, `jaga sync now`) and any"
    " other jaga command using it"
)


def in_use_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + IN_USE_SUFFIX)


class InUse:
    """This opener's hold on a store's in-use lock."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        try:
            self._lock = HeldLock(in_use_path(store_path))
        except OSError as error:
            raise StoreIOError(
                f"cannot open {in_use_path(store_path)}, the lock every opener of"
                f" {store_path} holds: {error}"
            ) from error

    @classmethod
    def shared(cls, store_path: Path) -> InUse:
        """Hold it beside others; ``StoreInUseError`` while a restore or key change runs."""
        held = cls(store_path)
        if not held._take(exclusive=False):
            held.release()
            raise StoreInUseError(
                f"{store_path} is being restored or re-keyed by another process; open it"
                " again once that has finished"
            )
        return held

    @classmethod
    def alone(cls, store_path: Path, doing: str) -> InUse:
        """Hold it alone, or raise ``StoreInUseError`` saying what to stop first."""
        held = cls(store_path)
        if not held._take(exclusive=True):
            held.release()
            raise _in_use(store_path, doing)
        return held

    def _take(self, *, exclusive: bool) -> bool:
        """``HeldLock.take``; a lock the file system cannot take is ``StoreIOError``, and
        lets go of the file (a raw OSError, and a descriptor left open, otherwise)."""
        try:
            return self._lock.take(exclusive=exclusive)
        except OSError as error:
            self.release()
            raise StoreIOError(
                f"cannot lock {in_use_path(self.store_path)}, which every opener of"
                f" {self.store_path} holds: {error}; keep the store on a local disk (this file"
                " system does not lock files for it)"
            ) from error

    def make_sole(self, doing: str) -> None:
        """Turn a shared hold into the only one, or raise ``StoreInUseError`` holding it
        shared again. flock lets go of the shared lock before it looks for others: should a
        restore or key change take the lock in that instant, this store is no longer covered,
        and says so."""
        if self._take(exclusive=True):
            return
        if not self._take(exclusive=False):
            raise StoreInUseError(
                f"{self.store_path} is being restored or re-keyed by another process: close"
                " this store and open it again once that has finished"
            )
        raise _in_use(self.store_path, doing)

    def share(self) -> None:
        """Back to a shared hold (nobody else holds it: this always succeeds)."""
        self._take(exclusive=False)

    def release(self) -> None:
        self._lock.release()


@contextlib.contextmanager
def sole_use(store_path: Path, doing: str) -> Iterator[None]:
    """Hold the store's in-use lock alone for the block, or raise ``StoreInUseError``.

    Within it this process opens the store with ``Store.open(..., in_use=False)``: a second
    hold of its own would be refused as another opener's is."""
    held = InUse.alone(store_path, doing)
    try:
        yield
    finally:
        held.release()


def _in_use(store_path: Path, doing: str) -> StoreInUseError:
    return StoreInUseError(
        f"{store_path} is open in another process: {WHAT_TO_STOP}, and try the {doing} again"
        " (nothing was changed)"
    )
