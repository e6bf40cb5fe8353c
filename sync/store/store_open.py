"""Open an existing store's file with the key that decrypts it (``Store.open``'s work).

The header (``sync.store.keys``) may name two keys, the current one and a *pending* one a key
change or a restore wrote before it re-encrypted or replaced the file: each is tried, and
the header is settled on the one that works, finishing the interrupted change, unless a key
change is running in another process right now (``key_change_lock``, held by
``Store.change_key`` from its first header write to its last). When neither key opens the
file, the error says which to open it with, or that the file is not the one the header
belongs to. A file that decrypts but is not a Jaga store (its application id, no schema) is
refused; one that is has its schema migrated forward.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sync.errors import NotAStoreError, WrongKeyError
from sync.filelock import exclusive, held_elsewhere
from sync.store import keys
from sync.store.database import Database, StoreConfig
from sync.store.keys import KeyHeader, KeySlot, KeySource
from sync.store.schema.migrations import APPLICATION_ID, Migration, migrate, schema_version


def key_change_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """Held by a key change from its first header write to its last (a file lock, so other
    processes see it too)."""
    return exclusive(_lock_file(path))


def _key_change_running(path: Path) -> bool:
    """Whether another process is changing this store's key right now (True when it cannot
    tell: leaving the header as it is is always safe)."""
    return held_elsewhere(_lock_file(path))


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".key-lock")


def open_database(
    path: Path, source: KeySource, config: StoreConfig, migrations: tuple[Migration, ...]
) -> tuple[Database, bytes, KeyHeader]:
    """The database, its key, and the header that goes with it (settled, if a key change was
    interrupted)."""
    header = keys.read_header(path)
    database, key, winner = _open_with_candidates(path, header, keys.unlock(header, source), config)
    try:
        _check_identity(database)
        with database.translated():
            migrate(database.connection, migrations)
    except BaseException:
        database.close()
        raise
    if winner != header and not _key_change_running(path):
        keys.write_header(path, winner)  # finish an interrupted key change, now we know
    return database, key, winner


def _open_with_candidates(
    path: Path,
    header: KeyHeader,
    candidates: list[tuple[bytes, KeyHeader]],
    config: StoreConfig,
) -> tuple[Database, bytes, KeyHeader]:
    for key, candidate in candidates:
        try:
            return Database.open(path, key, config, create=False), key, candidate
        except WrongKeyError:
            continue
    if header.pending is not None and len(candidates) == 1:
        raise WrongKeyError(_interrupted_key_change(path, header, candidates[0][1].current))
    if len(candidates) > 1 or candidates[0][1].current.kind == "passphrase":
        detail = "the key matches its header, but the file does not decrypt with it"
    else:
        detail = "the key file matches its header, but the file does not decrypt with it"
    raise NotAStoreError(f"{path}: {detail}: damaged, or not the file this header belongs to")


def _interrupted_key_change(path: Path, header: KeyHeader, tried: KeySlot) -> str:
    """The file is intact under the other slot's key, most likely: say which to open it with.

    A restore writes the same pending header before it renames its copy over the store; a
    copy still beside the store (``.restoring``) means the restore was killed before that."""
    old, new = (_what(header.current), _what(header.pending or header.current))
    if path.with_name(path.name + ".restoring").exists():
        return (
            f"{path}: a restore was interrupted before it replaced this store: the file here"
            " is still the store it was to replace, and opens with that store's own"
            f" {old}; run the restore again (`jaga store info` names what it left)"
        )
    if tried == header.current:
        return (
            f"{path}: a key change (or a restore) was interrupted and has probably finished:"
            f" the file no longer opens with the old {old}; open it with the new {new} (the"
            " backup's, after a restore), which completes the change"
        )
    return (
        f"{path}: a key change was interrupted before it re-encrypted the file: it still"
        f" opens with the old {old}, not the new {new}"
    )


def _what(slot: KeySlot) -> str:
    return "passphrase" if slot.kind == "passphrase" else "key file"


def _check_identity(database: Database) -> None:
    with database.translated():
        connection: Any = database.connection
        application_id = int(connection.execute("PRAGMA application_id").fetchone()[0])
        version = schema_version(connection)
    if application_id != APPLICATION_ID or version == 0:
        raise NotAStoreError(f"{database.path} is an encrypted database, but not a Jaga store")
