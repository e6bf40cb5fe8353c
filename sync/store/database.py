"""One keyed SQLCipher connection: transactions, checkpoints, purges, error translation.

How the connection is made (the file checked, the key proven before anything is written,
then WAL and the pragmas) is ``sync.store.database_open``; ``Database.open`` runs it.

Every write is ``BEGIN IMMEDIATE`` ... ``COMMIT`` with ``synchronous=FULL``: when ``COMMIT``
returns, the transaction is on disk; when another process holds the write lock,
``BEGIN IMMEDIATE`` waits up to the busy timeout and then fails with ``StoreLockedError``.

An erasure's data leaves the file only at a checkpoint (``purge``); until one runs, a mark in
the store says it is owed (``sync.store.purge_mark``), and every write and open retries it.

The checks made on the file before a connection is (``check_file_looks_encrypted``) live in
``sync.store.database_files``, the table from SQLite's errors to ours in
``sync.store.database_errors``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3

from sync import limits
from sync.durable import narrow_to_owner
from sync.errors import (
    KeyNotChangedError,
    StoreError,
    StoreFullError,
    StoreIOError,
)
from sync.protocol import MAX_PHOTO_BYTES
from sync.store import database_open, purge_mark
from sync.store.database_errors import out_of_room, translate, translating
from sync.store.database_files import (
    PAGE_SIZE,
    SQLITE_MAGIC,
    check_file_looks_encrypted,
    copy_private_file,
)
from sync.store.key_memory import hand_key
from sync.store.scrypt_cost import check_scrypt_cost

# What other modules and the tests import from here: the connection's own names, and those of
# the error translation (``sync.store.database_errors``) and of the file checks
# (``sync.store.database_files``) that lived here before they moved.
__all__ = [
    "PAGE_SIZE",
    "SQLITE_MAGIC",
    "Database",
    "StoreConfig",
    "check_file_looks_encrypted",
    "copy_private_file",
    "out_of_room",
    "translate",
]

log = logging.getLogger(__name__)

_PURGE_POLL_S = 0.1


@dataclass(frozen=True)
class StoreConfig:
    """Limits and timings of one open store. Tests shrink them; deployments may tune them."""

    busy_timeout_s: float = 5.0
    # What the protocol and the hub carry, so every photo the store keeps can be synced:
    # a phone's full-resolution photo may be over 16 MiB. Held whole in memory only one at a
    # time (a catch, an upload, which sends it in 1 MiB chunks; the hub joins them once).
    max_blob_bytes: int = MAX_PHOTO_BYTES
    scrypt_n: int = 2**17
    # How long an erasure waits for other connections' reads to end so that it can purge the
    # erased data from the file; polled, so no writer is held up meanwhile.
    purge_wait_s: float = limits.PURGE_WAIT_S

    def __post_init__(self) -> None:
        if self.busy_timeout_s < 0 or self.max_blob_bytes <= 0 or self.purge_wait_s < 0:
            raise ValueError("busy_timeout_s and purge_wait_s must be >= 0 and max_blob_bytes > 0")
        check_scrypt_cost(self.scrypt_n)  # refused here, not at the first new key slot


class Database:
    """A keyed connection with the store's pragmas; the only place SQL errors are translated."""

    def __init__(self, connection: Any, path: Path, config: StoreConfig) -> None:
        self._connection = connection
        self.path = path
        self.config = config
        self.checkpoint_owed = False  # a checkpoint a reader held back: retried after writes
        self.tracks_purges = False  # set by Store: the schema can hold a purge_mark

    @property
    def connection(self) -> Any:
        """The raw connection, for schema work and checks; data goes through read()/write()."""
        return self._connection

    @classmethod
    def open(cls, path: Path, key: bytes, config: StoreConfig, *, create: bool) -> Database:
        """Connect and prove the key. ``WrongKeyError`` if the file does not decrypt.

        ``create`` makes a new file, 0600 (nothing may be at ``path``), and a database in it.
        """
        if create:
            # SQLite would make it 0644; its -wal and -shm take its mode
            database_open.create_private_file(path)
        else:
            part_page = check_file_looks_encrypted(path)
            database_open.prove_key_touching_nothing(path, key, config)
            if part_page:
                database_open.check_part_page(path, key, config)
        connection = database_open.connect(path, key, config, "rwc" if create else "rw")
        return cls(connection, path, config)

    @classmethod
    def open_unmade(cls, path: Path, key: bytes, config: StoreConfig) -> Database:
        """A database made in the empty file an ``open(create=True)`` cut short left (a kill,
        or a disk with no room, before SQLite wrote its first page), as that open makes one:
        in place, not deleted and made again, so that another process making it meanwhile
        keeps its file. Its owner's alone, as ``create`` makes it."""
        narrow_to_owner(path)
        return cls(database_open.connect(path, key, config, "rwc"), path, config)

    def _translated(self, error: sqlcipher3.Error) -> BaseException:
        return translate(error, self.path, self.config.busy_timeout_s) or error

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Run SQL and re-raise its known failures as our errors."""
        with translating(self.path, self.config.busy_timeout_s):
            yield

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction: all of it is committed durably, or none of it. A purge owed
        (an erasure's, made here or by another process) is retried after it."""
        with self._transaction() as connection:
            yield connection
            if self.tracks_purges and not self.checkpoint_owed:
                self.checkpoint_owed = purge_mark.owed_mark(connection) is not None
        if self.checkpoint_owed:
            self._retry_owed_checkpoint()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.translated():
            self._connection.execute("BEGIN IMMEDIATE")
        try:
            with self.translated():
                yield self._connection
                self._connection.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        """A read transaction: one consistent snapshot across several queries."""
        with self.translated():
            self._connection.execute("BEGIN")
            try:
                yield self._connection
            finally:
                if self._connection.in_transaction:
                    self._connection.execute("COMMIT")

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self.translated():
            return list(self._connection.execute(sql, parameters).fetchall())

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """A single statement outside an explicit transaction (pragmas, checkpoints)."""
        with self.translated():
            self._connection.execute(sql, parameters)

    def rekey(self, key: bytes) -> None:
        """Re-encrypt every page under ``key`` in one transaction (SQLCipher's rekey).

        ``KeyNotChangedError`` when the re-encryption itself failed, and only then: the file
        keeps its old key. Any other error (the checkpoint after it) comes after the commit.
        """
        self.checkpoint()
        try:
            hand_key(self._connection, key, "rekey")
        except sqlcipher3.Error as error:
            known = translate(error, self.path, self.config.busy_timeout_s)
            # SQLCipher reports a rekey that could not take the write lock with a generic
            # text about PRAGMA key.
            why = str(known) if known else "another process is using it; stop the app"
            raise KeyNotChangedError(
                f"cannot re-encrypt {self.path}: {why} (the store keeps its old key)"
            ) from error
        self.checkpoint()

    def retry_owed_purge(self) -> None:
        """Run a purge owed by this process or recorded by another, if any (``Store.open``)."""
        if self.checkpoint_owed or self._owed_mark() is not None:
            self._retry_owed_checkpoint()

    def _retry_owed_checkpoint(self) -> None:
        """Without waiting: a reader still in the way keeps it owed, and the write that
        retries it is not held up by the busy timeout. The write has committed: a retry that
        fails (no room to fold the WAL in) stays owed and is logged, never raised as if the
        write had not happened (its caller would record it again)."""
        try:
            self.purge()
        except StoreError as error:
            log.warning("checkpoint still owed after a commit: %s", error)
            self.checkpoint_owed = True

    def purge(self, *, wait: bool = False) -> bool:
        """Fold every committed erasure into the main file and empty the WAL, then clear the
        owed mark; whether it could (the erased data has left both files).

        Another connection's read holds it back. ``wait`` tries again until
        ``config.purge_wait_s`` has passed; each try gives up at once rather than wait on the
        busy timeout, which would hold off every writer for as long.
        """
        mark = self._owed_mark()  # read first: an erasure committed after it keeps its own
        deadline = time.monotonic() + (self.config.purge_wait_s if wait else 0)
        with self._busy_timeout(0):
            while not self.checkpoint():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(_PURGE_POLL_S)
        if mark is not None:
            self._clear_owed_purge(mark[0])
        return True

    def owed_purge_since(self) -> str | None:
        """When the erasure whose purge is still owed committed (UTC), or None."""
        mark = self._owed_mark()
        return None if mark is None else mark[1]

    def _owed_mark(self) -> tuple[str, str] | None:
        if not self.tracks_purges:
            return None
        with self.translated():
            return purge_mark.owed_mark(self._connection)

    def _clear_owed_purge(self, value: str) -> None:
        """The data is out of the file; a mark left behind only costs the next open a check."""
        try:
            with self._transaction() as connection:
                purge_mark.remove_mark(connection, value)
            with self._busy_timeout(0):
                self.checkpoint()  # fold the mark's removal in too: an empty WAL
        except StoreError as error:
            log.warning("erased data purged, but its owed mark not cleared: %s", error)

    @contextlib.contextmanager
    def _busy_timeout(self, seconds: float) -> Iterator[None]:
        with self.translated():
            self._connection.execute(f"PRAGMA busy_timeout = {round(seconds * 1000)}")
        try:
            yield
        finally:
            waited_ms = round(self.config.busy_timeout_s * 1000)
            with self.translated():
                self._connection.execute(f"PRAGMA busy_timeout = {waited_ms}")

    def checkpoint(self) -> bool:
        """Fold the WAL into the main file and truncate it; whether it could.

        After an erasure this drops the WAL's copies of the erased pages, and writes the
        erasure into the main file, which until then still holds the person as they were
        (``purge`` runs it for an erasure). A reader's snapshot (the kiosk loading its
        gallery) can hold it back past the busy timeout: it is then owed, and tried again
        after each write and at close. No room to fold it in is ``StoreFullError``; what
        was committed stays in the WAL, readable.
        """
        try:
            busy = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlcipher3.Error as error:
            known = self._translated(error)
            if isinstance(known, StoreFullError):  # not "not written": it was, to the WAL
                reason = out_of_room(self.path) or str(error)
                raise StoreFullError(
                    f"no space left for {self.path} ({reason}); what was committed is kept"
                    " in its write-ahead log (-wal), but cannot be folded into the file"
                ) from error
            raise known from error
        self.checkpoint_owed = bool(busy)
        return not busy

    def backup_to(self, target: Database) -> None:
        """Copy every page into ``target`` (keyed the same way) from one snapshot."""
        try:
            self._connection.backup(target.connection)
        except sqlcipher3.Error as error:
            # The backup API's errors name no file and often carry no code: judge by the target.
            known = translate(error, target.path, self.config.busy_timeout_s)
            if known is not None:
                raise known from error
            reason = out_of_room(target.path)
            if reason is not None:
                raise StoreFullError(f"no space left for {target.path} ({reason})") from error
            raise StoreIOError(f"cannot write {target.path}: {error}") from error

    def close(self) -> None:
        try:
            with contextlib.suppress(sqlcipher3.Error, StoreError):
                if self.checkpoint_owed:
                    self.purge()
        finally:
            with contextlib.suppress(sqlcipher3.Error):
                self._connection.close()

    def _rollback_quietly(self) -> None:
        # After SQLITE_FULL or an I/O error SQLite may already have rolled back; a failing
        # ROLLBACK must not hide the error that caused it.
        with contextlib.suppress(sqlcipher3.Error):
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
