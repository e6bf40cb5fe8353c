"""The file beside a store that keeps the catches not yet in it (``<store>.pending-catches``).

The Catch panel keeps each catch from its Record (``desktop.catch_spool``), and one the
store refused, in this small SQLCipher database until it is recorded or dismissed: the
officer's photo and the catch's details, 0600, encrypted with the spool's key: derived from
the store's (HKDF, ``sync.store.spool_kdf``), so that the panel, which holds it while it runs,
never holds the store's; a spool an earlier release kept under the store's raw key is
re-encrypted under it at its first open with the store's key (``open_spool``). Its key header
(``<spool>.kdf.json``) is a copy of the store's slot, so a spool the key change below did not
reach still opens with the passphrase or key file it was written under. This module
is what the store's own operations need of it: where it is, opening it, how many catches it
holds, and moving it to a new key.

A key change (``Store.change_key``) or a restore under another key moves the spool with the
store, crash-safely (``sync.store.side_rekey``: a copy re-encrypted under the new key's spool
key beside it, put in place once the store has the new key); ``open_spool`` settles a change
a kill interrupted.

It holds no one's face or badge: an erasure (``jaga store erase``, a purge) has nothing to
remove from it. A photo of a deck may show people, as any catch photo in the store may; an
entry is deleted (``secure_delete``, as in the store) once its catch is recorded (it is then
the store's, synced and kept like any catch) or dismissed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sync.errors import StoreError, WrongKeyError
from sync.store import keys
from sync.store.database import Database, StoreConfig
from sync.store.key_memory import overwrite
from sync.store.keys import KeyHeader, KeySlot, KeySource
from sync.store.side_counts import rows_beside
from sync.store.side_rekey import (
    candidates,
    holds_nothing,
    open_or_migrate,
    prepare_rekeyed,
    put_rekeyed_in_place,
    rekeyed_copy_kept,
    rekeyed_path,
    remove_files,
)
from sync.store.spool_kdf import spool_key_from

_log = logging.getLogger(__name__)
SUFFIX = ".pending-catches"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending ("
    " uid TEXT PRIMARY KEY, kept_at TEXT NOT NULL, catch TEXT NOT NULL, photo BLOB NOT NULL)"
)


def spool_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def spool_exists(store_path: Path) -> bool:
    """Whether a spool that may hold catches is beside the store: one whose making was cut
    short holds none (``holds_nothing``)."""
    return not holds_nothing(spool_path(store_path))


def open_spool(
    store_path: Path, key: bytes, slot: KeySlot, source: KeySource | None, config: StoreConfig
) -> Database:
    """The spool beside the store at ``store_path`` (made if there is none) with the store's
    ``key`` and ``slot``: under the spool's key derived from ``key`` (``spool_kdf``); one an
    earlier release kept under the store's raw key is re-encrypted under it first. One
    written under an earlier key opens with its own header's slot and ``source``
    (``WrongKeyError`` without one). A key change a kill interrupted is settled first."""
    spool_key = spool_key_from(key)
    try:
        return _open(store_path, spool_key, slot, config, store_key=key, source=source)
    finally:
        overwrite(spool_key)  # derived for this open only: SQLCipher keeps its own copy


def open_spool_with(
    store_path: Path, spool_key: bytes, slot: KeySlot, config: StoreConfig
) -> Database:
    """``open_spool`` with the spool's key alone (``sync.store.spool_key``: no store key
    held, none derived). ``WrongKeyError`` for a spool under any other key: an earlier
    key's, or the store's raw key (the next ``open_spool`` re-encrypts that one)."""
    return _open(store_path, spool_key, slot, config, store_key=None, source=None)


def _open(
    store_path: Path,
    spool_key: bytes,
    slot: KeySlot,
    config: StoreConfig,
    *,
    store_key: bytes | None,
    source: KeySource | None,
) -> Database:
    path = spool_path(store_path)
    if rekeyed_copy_kept(path, candidates(spool_key, store_key), config):
        finish_key_change(store_path, slot)  # a key change a kill interrupted: settled
    if holds_nothing(path):
        database = _make(path, spool_key, config)
        keys.write_header(path, KeyHeader(current=slot))
    else:
        try:
            database = open_or_migrate(path, spool_key, store_key, config)
        except WrongKeyError:  # the store's key changed, and this spool was not moved with it
            if source is None:
                raise
            earlier = keys.unlock_slot(keys.read_header(path).current, source)
            earlier_spool_key = spool_key_from(earlier)
            try:
                database = open_or_migrate(path, earlier_spool_key, earlier, config)
            finally:
                overwrite(earlier_spool_key)
                overwrite(earlier)
        else:
            _heal_header(path, slot)
    with database.write() as connection:
        connection.execute(SCHEMA)
    return database


def pending_count(store_path: Path, key: bytes, config: StoreConfig) -> int | None:
    """How many catches the spool holds (0: no spool); None when the store's ``key`` does
    not open it (a spool still under an earlier key). A spool killed between its file and
    its table (``open_spool``) holds none: 0 (the Catch panel makes the table when it opens
    it). One an earlier release kept under the store's raw key is counted, left as it is."""
    if not spool_exists(store_path):
        return 0
    spool_key = spool_key_from(key)
    try:
        for candidate in candidates(spool_key, key):
            count = rows_beside(spool_path(store_path), "pending", candidate, config)
            if count is not None:
                return count
        return None
    finally:
        overwrite(spool_key)  # derived for this count only


def prepare_key_change(
    store_path: Path, old_key: bytes, new_key: bytes, config: StoreConfig
) -> bool:
    """Write the spool re-encrypted under the spool's key of the store's ``new_key`` beside
    it, before the store's key changes; whether there is one for ``finish_key_change`` to
    put in place. The spool is under the spool's key of ``old_key``, or under ``old_key``
    itself (an earlier release's). A spool that neither opens (still under an earlier key)
    is left as it is, logged. A failure (no room) raises, the spool as it was: the caller
    changes nothing either."""
    # an unmade spool is made under the key the store has
    return prepare_rekeyed(spool_path(store_path), (old_key, new_key), spool_key_from, config,
                           present=spool_exists(store_path))  # fmt: skip


def finish_key_change(store_path: Path, slot: KeySlot) -> None:
    """Put the spool re-encrypted by ``prepare_key_change`` in place, the store's key
    changed to ``slot``'s."""
    path = spool_path(store_path)
    put_rekeyed_in_place(path)
    keys.write_header(path, KeyHeader(current=slot))


def abandon_key_change(store_path: Path) -> None:
    """The store kept its key: drop the spool's copy under the key it did not take."""
    remove_files(rekeyed_path(spool_path(store_path)))


def _make(path: Path, key: bytes, config: StoreConfig) -> Database:
    """A new spool, or one whose making was cut short made in place (``holds_nothing``)."""
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
