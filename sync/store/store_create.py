"""Build a new store's file (``Store.create``'s work), and the side files a store has.

A store is built under a temporary name (``<store>.init``): its schema and the audit
chain's first entry are written there, and it is renamed into place only once it is
complete and its key header is written beside it, so an interrupted ``init`` leaves nothing
that looks like a store. Nothing is ever built over a file already at the store's path
(``check_free``). ``remove_with_side_files`` removes a store file with its WAL, shared
memory and journal (a build's leftover, a backup's partial copy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from sync.durable import fsync_path
from sync.errors import StoreExistsError
from sync.store import keys
from sync.store.database import Database, StoreConfig
from sync.store.database_files import SIDE_FILES
from sync.store.keys import KeyHeader
from sync.store.schema.migrations import Migration, migrate


def build(
    path: Path,
    key: bytes,
    header: KeyHeader,
    config: StoreConfig,
    migrations: tuple[Migration, ...],
    *,
    record_creation: Callable[[Database], None],
) -> None:
    """Create the schema and the audit chain's first entry under a temporary name, then
    rename it into place with its header: a store is never found without that entry."""
    building = path.with_name(path.name + ".init")
    remove_with_side_files(building)
    database = Database.open(building, key, config, create=True)
    try:
        with database.translated():
            migrate(database.connection, migrations)
        record_creation(database)
    finally:
        database.close()  # the last close checkpoints and removes the WAL
    keys.write_header(path, header)
    building.replace(path)
    fsync_path(path.parent)


def check_free(path: Path) -> None:
    """``StoreExistsError`` where anything is at ``path``: a new store is never written over
    it (``jaga store init`` asks before it writes a new key file)."""
    if path.exists():
        raise StoreExistsError(f"{path} already exists; not overwriting it")


def remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
