"""Moving a file kept beside the store (the catch spool, the kiosk's journal) from one key to
another, crash-safely: what ``pending_catches`` and ``kiosk_journal`` share.

Each is a small SQLCipher database under a key derived from the store's (``spool_kdf``).
Two moves happen to it:

* the store's key changes (``Store.change_key``, a restore under another key): before the
  store's file changes key, ``write_rekeyed`` writes the file re-encrypted under the new
  key beside it (``<file>.rekeyed``, named ``<file>.rekeying`` until it is complete and
  synced); once the store has the new key, ``put_rekeyed_in_place`` renames it over the
  file. Until then each key opens its own copy, and ``rekeyed_copy_kept`` settles a change a
  kill interrupted: the copy under the key the store opened with is kept, the other deleted;
* an earlier release kept the file under the store's raw key: ``open_or_migrate``
  re-encrypts it under its derived key in place, in one transaction (SQLCipher's rekey), at
  its first open with the store's key: a kill leaves it under one key or the other.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from sync.durable import fsync_path
from sync.errors import KeyNotChangedError, StoreError, WrongKeyError
from sync.store.database import Database, StoreConfig, copy_private_file
from sync.store.database_files import SIDE_FILES, wal_holds_a_frame
from sync.store.key_memory import overwrite

_log = logging.getLogger(__name__)
REKEYED = ".rekeyed"  # the file under the new key, until the key change is done
# The copy being re-encrypted (not ``.partial``: ``jaga store info`` names those as backups).
REKEYING = ".rekeying"


def holds_nothing(path: Path) -> bool:
    """Whether the side file at ``path`` holds nothing: absent, or empty with no log that
    holds a page. SQLite writes a new file's first page before any row goes in, so an empty
    one (a kill between the file and that page, a disk with no room for it) never held a row;
    every open refuses it as a truncated database, so each side file makes it anew."""
    try:
        return path.stat().st_size == 0 and not wal_holds_a_frame(path)
    except FileNotFoundError:
        return True


def rekeyed_path(path: Path) -> Path:
    return path.with_name(path.name + REKEYED)


def rekeying_path(path: Path) -> Path:
    return path.with_name(path.name + REKEYING)


def prepare_rekeyed(
    path: Path,
    keys: tuple[bytes, bytes],
    derive: Callable[[bytes], bytes],
    config: StoreConfig,
    *,
    present: bool,
) -> bool:
    """Write the file at ``path`` re-encrypted under ``derive`` of the store's new key
    (``keys``: old, new) beside it, before the store's key changes; whether there is a copy
    for ``put_rekeyed_in_place``. It is under ``derive`` of the old key, or under the old
    key itself (an earlier release's). Nothing when it is not ``present``, or neither opens
    it (it keeps its key, logged). A failure (no room) raises, the file as it was."""
    old_key, new_key = keys
    remove_files(rekeyed_path(path))
    remove_files(rekeying_path(path))
    if not present:
        return False
    # Derived for this move only (SQLCipher keeps its own copies): overwritten after, the
    # store's keys left to their holder (``sync.store.key_memory``).
    derived_old, derived_new = derive(old_key), derive(new_key)
    try:
        # Opened and closed here: the close folds a killed writer's log into the file, copied.
        old = key_that_opens(path, candidates(derived_old, old_key), config)
        if old is None:
            _log.warning("%s is under another key than the store's: it keeps that key", path)
            return False
        write_rekeyed(path, old, derived_new, config)
        return True
    finally:
        overwrite(derived_old)
        overwrite(derived_new)


def write_rekeyed(path: Path, old_key: bytes, new_key: bytes, config: StoreConfig) -> None:
    """Write the file at ``path``, under ``old_key``, re-encrypted under ``new_key`` beside
    it (``rekeyed_path``). A failure (no room) raises, the file as it was and no copy left.
    The last connection's close folds the WAL into the file: one file to copy."""
    partial, rekeyed = rekeying_path(path), rekeyed_path(path)
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
        remove_files(partial)
        raise


def put_rekeyed_in_place(path: Path) -> None:
    """Put the copy ``write_rekeyed`` made in place of the file at ``path``."""
    for suffix in SIDE_FILES:  # the old file's (empty): never to be read with the new one
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
    rekeyed_path(path).replace(path)
    fsync_path(path.parent)


def rekeyed_copy_kept(path: Path, candidates: tuple[bytes, ...], config: StoreConfig) -> bool:
    """A key change killed midway left a copy of the file at ``path``: whether it is the one
    to keep (under one of ``candidates``, the keys that go with the store's: the caller puts
    it in place); one under no candidate (the store kept its old key), or cut short, goes."""
    remove_files(rekeying_path(path))
    rekeyed = rekeyed_path(path)
    if not rekeyed.exists():
        return False
    try:
        kept = key_that_opens(rekeyed, candidates, config)
    except StoreError:  # a copy cut short or damaged: the file is as it was
        kept = None
    if kept is None:
        remove_files(rekeyed)  # the store kept its old key: the file keeps it too
        return False
    return True


def open_or_migrate(
    path: Path, derived_key: bytes, store_key: bytes | None, config: StoreConfig
) -> Database:
    """The file at ``path`` under ``derived_key``; one an earlier release kept under the
    store's raw key re-encrypted under ``derived_key`` in place, in one transaction
    (SQLCipher's rekey): a kill leaves it under one key or the other, each read here, and
    SQLite's write lock keeps any other connection's write. ``WrongKeyError`` when neither
    key opens it (``store_key`` None: the derived key alone is tried)."""
    try:
        return Database.open(path, derived_key, config, create=False)
    except WrongKeyError:
        if store_key is None:
            raise
    earlier_release = Database.open(path, store_key, config, create=False)
    try:
        earlier_release.rekey(derived_key)
    except KeyNotChangedError as error:
        earlier_release.close()
        try:  # another opener's rekey took the write lock first
            return Database.open(path, derived_key, config, create=False)
        except WrongKeyError:
            _log.warning("%s stays under the store's key until its next open: %s", path, error)
            return Database.open(path, store_key, config, create=False)
    except BaseException:
        earlier_release.close()
        raise
    _log.info("%s re-encrypted under its own key (an earlier release's)", path)
    return earlier_release


def candidates(derived_key: bytes, store_key: bytes | None) -> tuple[bytes, ...]:
    """The keys a file may be under: its derived key, then the store's raw key (an earlier
    release's) when the caller has it."""
    return (derived_key,) if store_key is None else (derived_key, store_key)


def key_that_opens(path: Path, keys: tuple[bytes, ...], config: StoreConfig) -> bytes | None:
    """The first of ``keys`` that opens the database at ``path`` (closed again)."""
    for key in keys:
        try:
            Database.open(path, key, config, create=False).close()
        except WrongKeyError:
            continue
        return key
    return None


def remove_files(path: Path) -> None:
    """The file at ``path`` and its side files, those that are there."""
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
