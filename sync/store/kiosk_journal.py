"""The kiosk's journal of waiting decisions (``<store>.kiosk-waiting``): its key, opening it,
counting it, and moving it to the store's new key.

The journal is under a key derived from the store's (HKDF, ``sync.store.spool_kdf``, with
its own ``info``: ``jaga kiosk journal v2``), so that the kiosk, which holds that key while
it runs (``desktop.kiosk.journal``), holds one that opens the journal and nothing else. A
journal an earlier release kept under the store's raw key is re-encrypted under it, in place
and in one transaction, at its first open with the store's key (``open_journal``): a kill
midway leaves it under one key or the other, and the next open reads it either way, every
decision in it. ``jaga store rekey`` and a restore under another key move it with the store,
crash-safely, as they move the catch spool (``sync.store.side_rekey``): its decisions wait
for the kiosk's next start under the new key.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sync.errors import StoreError
from sync.store.database import Database, StoreConfig
from sync.store.key_memory import overwrite
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
from sync.store.spool_kdf import journal_key_from

_log = logging.getLogger(__name__)
SUFFIX = ".kiosk-waiting"
TABLE = "waiting"


def waiting_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + SUFFIX)


def open_journal(
    store_path: Path, journal_key: bytes, store_key: bytes | None, config: StoreConfig
) -> Database:
    """The journal beside the store at ``store_path``, under ``journal_key`` (made if there
    is none). One an earlier release kept under the store's raw key ``store_key`` is
    re-encrypted under ``journal_key`` first (``store_key`` None: not tried). A key change a
    kill interrupted is settled first. ``WrongKeyError`` for one under any other key."""
    path = waiting_path(store_path)
    if rekeyed_copy_kept(path, candidates(journal_key, store_key), config):
        put_rekeyed_in_place(path)  # the store took the new key: so does the journal
    if holds_nothing(path):
        remove_files(path)  # nothing in it: made anew
        return Database.open(path, journal_key, config, create=True)
    return open_or_migrate(path, journal_key, store_key, config)


def open_store_journal(store_path: Path, store_key: bytes, config: StoreConfig) -> Database:
    """``open_journal`` under the journal's key of ``store_key``, derived for this open and
    overwritten after it (SQLCipher keeps its own copy: ``sync.store.key_memory``)."""
    journal_key = journal_key_from(store_key)
    try:
        return open_journal(store_path, journal_key, store_key, config)
    finally:
        overwrite(journal_key)


def journal_count(store_path: Path, store_key: bytes, config: StoreConfig) -> int | None:
    """How many decisions the journal holds (0: none, or no journal); None when neither the
    journal's key of ``store_key`` nor ``store_key`` itself (an earlier release's, counted as
    it is) opens it. A copy a key change killed midway left under the new key is counted
    in its place (the next open puts it there)."""
    journal_key = journal_key_from(store_key)
    try:
        return _count(waiting_path(store_path), candidates(journal_key, store_key), config)
    finally:
        overwrite(journal_key)  # derived for this count only: SQLCipher keeps its own copy


def _count(path: Path, keys: tuple[bytes, ...], config: StoreConfig) -> int | None:
    rekeyed = rekeyed_path(path)
    if rekeyed.exists():
        for key in keys:
            count = _rows(rekeyed, key, config)
            if count is not None:
                return count
    if holds_nothing(path):
        return 0
    for key in keys:
        count = rows_beside(path, TABLE, key, config)
        if count is not None:
            return count
    return None


def prepare_key_change(
    store_path: Path, old_key: bytes, new_key: bytes, config: StoreConfig
) -> bool:
    """Write the journal re-encrypted under the journal's key of the store's ``new_key``
    beside it, before the store's key changes; whether there is one for
    ``finish_key_change`` to put in place. The journal is under the journal's key of
    ``old_key``, or under ``old_key`` itself (an earlier release's). One that neither opens
    (a journal the kiosk will set aside) is left as it is, logged. A failure (no room)
    raises, the journal as it was: the caller changes nothing either."""
    path = waiting_path(store_path)
    # ``holds_nothing``: one is made under the store's key when a decision first waits
    return prepare_rekeyed(path, (old_key, new_key), journal_key_from, config,
                           present=not holds_nothing(path))  # fmt: skip


def finish_key_change(store_path: Path) -> None:
    """Put the journal re-encrypted by ``prepare_key_change`` in place."""
    put_rekeyed_in_place(waiting_path(store_path))


def abandon_key_change(store_path: Path) -> None:
    """The store kept its key: drop the journal's copy under the key it did not take."""
    remove_files(rekeyed_path(waiting_path(store_path)))


def _rows(path: Path, key: bytes, config: StoreConfig) -> int | None:
    try:
        return rows_beside(path, TABLE, key, config)
    except StoreError:  # a copy cut short or damaged: the journal itself is counted
        return None
