"""The file beside a store that keeps the catches not yet in it (``<store>.pending-catches``).

The Catch panel keeps each catch from its Record (``desktop.catch_spool``), and one the
store refused, in this small SQLCipher database until it is recorded or dismissed: the
officer's photo and the catch's details, encrypted with the store's key, 0600. Its key
header (``<spool>.kdf.json``) is a copy of the store's slot, so a spool the key change below
did not reach still opens with the passphrase or key file it was written under. This module
is what the store's own operations need of it: where it is, opening it, how many catches it
holds, and moving it to a new key.

A key change (``Store.change_key``) or a restore under another key moves the spool with the
store, crash-safely: before the store's file changes key, ``prepare_key_change`` writes the
spool re-encrypted under the new key beside it (``<spool>.rekeyed``, named
``<spool>.rekeying`` until it is complete and synced); once the store has the new key,
``finish_key_change`` renames it over the spool. Until then each key opens its own copy,
and ``open_spool`` settles a change a kill interrupted: the copy under the key the store
opened with is kept (renamed into place, or the spool left as it was), the other deleted.

It holds no one's face or badge: an erasure (``jaga store erase``, a purge) has nothing to
remove from it. A photo of a deck may show people, as any catch photo in the store may; an
entry is deleted (``secure_delete``, as in the store) once its catch is recorded (it is then
the store's, synced and kept like any catch) or dismissed.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from sync.durable import fsync_path
from sync.errors import StoreError, WrongKeyError
from sync.store import keys
from sync.store.database import Database, StoreConfig, copy_private_file
from sync.store.database_files import SIDE_FILES, wal_holds_a_frame
from sync.store.keys import KeyHeader, KeySlot, KeySource
from sync.store.side_counts import rows_beside

_log = logging.getLogger(__name__)
SUFFIX = ".pending-catches"
REKEYED = ".rekeyed"  # the spool under the new key, until the key change is done
# The copy being re-encrypted (not ``.partial``: ``jaga store info`` names those as backups).
_REKEYING = ".rekeying"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending ("
    " uid TEXT PRIMARY KEY, kept_at TEXT NOT NULL, catch TEXT NOT NULL, photo BLOB NOT NULL)"
)


def spool_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def spool_exists(store_path: Path) -> bool:
    """Whether a spool that may hold catches is beside the store: one whose making was cut
    short holds none (``unmade``)."""
    path = spool_path(store_path)
    return path.exists() and not unmade(path)


def unmade(path: Path) -> bool:
    """Whether the spool at ``path`` is a file whose making was cut short: empty, and without
    a log that holds a page. SQLite writes a new file's first page before any catch goes in,
    so such a file (a kill between the file and that page, a disk with no room for it) never
    held one. Every open refused it as a truncated store: no refused catch was kept on disk
    again, each start said the kept catches could not be read, and a key change failed."""
    try:
        return path.stat().st_size == 0 and not wal_holds_a_frame(path)
    except FileNotFoundError:
        return False


def open_spool(
    store_path: Path, key: bytes, slot: KeySlot, source: KeySource | None, config: StoreConfig
) -> Database:
    """The spool beside the store at ``store_path`` (made if there is none) with the store's
    ``key`` and ``slot``; one written under an earlier key opens with its own header's slot
    and ``source`` (``WrongKeyError`` without one: ``sync.store.spool_key`` derives none).
    A key change a kill interrupted is settled first."""
    path = spool_path(store_path)
    _settle_key_change(store_path, key, slot, config)
    if not path.exists() or unmade(path):
        database = _make(path, key, config)
        keys.write_header(path, KeyHeader(current=slot))
    else:
        try:
            database = Database.open(path, key, config, create=False)
        except WrongKeyError:  # the store's key changed, and this spool was not moved with it
            if source is None:
                raise
            header = keys.read_header(path)
            database = Database.open(
                path, keys.unlock_slot(header.current, source), config, create=False
            )
        else:
            _heal_header(path, slot)
    with database.write() as connection:
        connection.execute(SCHEMA)
    return database


def pending_count(store_path: Path, key: bytes, config: StoreConfig) -> int | None:
    """How many catches the spool holds (0: no spool); None when this key does not open it
    (a spool still under an earlier key). A spool killed between its file and its table
    (``open_spool``) holds none: 0 (the Catch panel makes the table when it opens it)."""
    if not spool_exists(store_path):
        return 0
    return rows_beside(spool_path(store_path), "pending", key, config)


def prepare_key_change(
    store_path: Path, old_key: bytes, new_key: bytes, config: StoreConfig
) -> bool:
    """Write the spool re-encrypted under ``new_key`` beside it, before the store's key
    changes; whether there is one for ``finish_key_change`` to put in place. A spool that
    ``old_key`` does not open (still under an earlier key) is left as it is, logged.
    A failure (no room) raises, the spool as it was: the caller changes nothing either."""
    path = spool_path(store_path)
    rekeyed, partial = _rekeyed(store_path), _partial(store_path)
    _remove(rekeyed)
    _remove(partial)
    if not spool_exists(store_path):  # an unmade one is made under the key the store has
        return False
    try:
        old = Database.open(path, old_key, config, create=False)
    except WrongKeyError:
        _log.warning("%s is under an earlier key: it keeps that key", path)
        return False
    old.close()  # the last connection's close folds the WAL into the file: one file to copy
    try:
        copy_private_file(path, partial)
        copy = Database.open(partial, old_key, config, create=False)
        try:
            copy.rekey(new_key)
        finally:
            copy.close()
        fsync_path(partial)
        partial.rename(rekeyed)
        fsync_path(rekeyed.parent)
    except BaseException:
        _remove(partial)
        raise
    return True


def finish_key_change(store_path: Path, slot: KeySlot) -> None:
    """Put the spool re-encrypted by ``prepare_key_change`` in place, the store's key
    changed to ``slot``'s."""
    path, rekeyed = spool_path(store_path), _rekeyed(store_path)
    for suffix in SIDE_FILES:  # the old file's (empty): never to be read with the new one
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
    rekeyed.replace(path)
    fsync_path(path.parent)
    keys.write_header(path, KeyHeader(current=slot))


def abandon_key_change(store_path: Path) -> None:
    """The store kept its key: drop the spool's copy under the key it did not take."""
    _remove(_rekeyed(store_path))


def _settle_key_change(store_path: Path, key: bytes, slot: KeySlot, config: StoreConfig) -> None:
    """A key change killed midway left a copy: keep the one under the store's ``key``."""
    _remove(_partial(store_path))
    rekeyed = _rekeyed(store_path)
    if not rekeyed.exists():
        return
    try:
        Database.open(rekeyed, key, config, create=False).close()
    except StoreError:  # the store kept its old key: the spool keeps it too
        _remove(rekeyed)
        return
    finish_key_change(store_path, slot)


def _make(path: Path, key: bytes, config: StoreConfig) -> Database:
    """A new spool, or one whose making was cut short made in place (``unmade``)."""
    if path.exists():
        _log.warning("%s is empty, its making cut short: it held no catch; made now", path)
        return Database.open_unmade(path, key, config)
    return Database.open(path, key, config, create=True)


def _heal_header(path: Path, slot: KeySlot) -> None:
    """The spool opened with the store's key: its header names that key's slot (a kill
    between ``finish_key_change``'s rename and its header leaves the old one)."""
    try:
        current: KeySlot | None = keys.read_header(path).current
    except StoreError:  # lost or unreadable: written anew
        current = None
    if current != slot:
        keys.write_header(path, KeyHeader(current=slot))


def _rekeyed(store_path: Path) -> Path:
    path = spool_path(store_path)
    return path.with_name(path.name + REKEYED)


def _partial(store_path: Path) -> Path:
    path = spool_path(store_path)
    return path.with_name(path.name + _REKEYING)


def _remove(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
