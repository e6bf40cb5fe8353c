"""One sync at a time per store: an advisory lock on a file beside it.

The background service and ``jaga sync now`` may both try to sync the same store. Only the
holder of this lock may move outbox entries through ``sent``, which is what makes requeueing
a dead sync's ``sent`` entries safe (how the lock behaves: ``sync.filelock``). ``jaga sync
register`` holds it too, waiting for a running sync, so a registration is never saved while a
sync made with the one before is under way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from sync.client.errors import SyncBusyError
from sync.filelock import exclusive, held_elsewhere


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".sync.lock")


def sync_lock(store_path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the store's sync lock, or raise ``SyncBusyError`` at once."""
    return exclusive(
        lock_path(store_path),
        busy=lambda: SyncBusyError(f"another sync of {store_path} is running"),
    )


@contextlib.contextmanager
def sync_lock_waiting(store_path: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold the store's sync lock, waiting for a sync that holds it (``waiting()`` is called
    first then, to say so): ``jaga sync register`` must not save a registration while a sync
    made with the old one still talks to the old hub, and its code is typed already."""
    if held_elsewhere(lock_path(store_path)):
        waiting()
    with exclusive(lock_path(store_path)):
        yield
