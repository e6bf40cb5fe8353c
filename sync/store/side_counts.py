"""How many rows a database kept beside the store holds (the catch spool, the kiosk's
waiting decisions): each is a small SQLCipher file under the store's key, made by a writer
that may have been killed between the file and its table."""

from __future__ import annotations

from pathlib import Path

from sync.errors import WrongKeyError
from sync.store.database import Database, StoreConfig


def rows_beside(path: Path, table: str, key: bytes, config: StoreConfig) -> int | None:
    """The rows of ``table`` in the database at ``path`` (0: no table yet); None when this
    key does not open it (one still under an earlier key). ``table`` is the module's own
    constant, never outside text."""
    try:
        database = Database.open(path, key, config, create=False)
    except WrongKeyError:
        return None
    try:
        found = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
        if not database.query(found, (table,)):
            return 0
        return int(database.query(f"SELECT count(*) FROM {table}")[0][0])
    finally:
        database.close()
