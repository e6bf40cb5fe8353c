"""The file beside a store where its kiosk keeps the decisions the store refused
(``<store>.kiosk-waiting``), as far as the store's own operations need to know of it.

The kiosk (``desktop.kiosk.journal``) writes there, under the store's key, each decision a
busy or full store could not take yet, and writes them to the store at its next start. A key
change in between would leave that file under the old key, which the kiosk then cannot read:
``Store.change_key`` asks here first, and refuses while decisions wait, so that none is lost.
"""

from __future__ import annotations

from pathlib import Path

from sync.errors import WrongKeyError
from sync.store.database import Database, StoreConfig

SUFFIX = ".kiosk-waiting"


def waiting_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def waiting_count(store_path: Path, key: bytes, config: StoreConfig) -> int | None:
    """How many decisions wait beside the store (0: no file, or none in it); None when this
    key does not open it (one under another key, which the kiosk sets aside)."""
    path = waiting_path(store_path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        database = Database.open(path, key, config, create=False)
    except WrongKeyError:
        return None
    try:
        if not database.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name='waiting'"):
            return 0
        return int(database.query("SELECT count(*) FROM waiting")[0][0])
    finally:
        database.close()
