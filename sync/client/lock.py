"""One sync at a time per store: an advisory lock on a file beside it.

The background service and ``jaga sync now`` may both try to sync the same store. Only the
holder of this lock may move outbox entries through ``sent``, which is what makes requeueing
a dead sync's ``sent`` entries safe (how the lock behaves: ``sync.filelock``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from sync.client.errors import SyncBusyError
from sync.filelock import exclusive


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".sync.lock")


def sync_lock(store_path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the store's sync lock, or raise ``SyncBusyError`` at once."""
    return exclusive(
        lock_path(store_path),
        busy=lambda: SyncBusyError(f"another sync of {store_path} is running"),
    )
