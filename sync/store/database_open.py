"""How a keyed connection to a store file is made: the file checked, the key proven, then WAL.

Opening goes in an order that never writes to a file it cannot read: the path must exist and
look like an encrypted database (not empty, not a plain SQLite file, whole pages) before a
connection is made, and the connection is only switched to WAL after the key has proven
itself by reading the schema. The key proves itself first on a connection that writes
nowhere (read-only, and its -shm too): a writable one, closed after the key failed, would
still checkpoint a WAL into the file and delete the -wal and -shm. A part page beside a WAL
with pages in it is the one size that may still be whole: a checkpoint cut short by a
file-size limit (EFBIG) leaves it, and SQLite reads every page that checkpoint was copying
from the WAL, and copies them again at the next checkpoint. Such a file is first read
through a read-only connection, which never checkpoints, and opened only if ``quick_check``
passes.

Apart from ``sync.store.database`` because this runs once, before there is a connection to
use; ``Database`` is what is done with one. ``Database.open`` runs it.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlcipher3

from sync.durable import create_private
from sync.errors import StoreCorruptError, StoreError, StoreIOError, WrongKeyError
from sync.store.database_errors import NOTADB, translate, translating
from sync.store.key_memory import hand_key

if TYPE_CHECKING:
    from sync.store.database import StoreConfig


def create_private_file(path: Path) -> None:
    try:
        os.close(create_private(path))
    except OSError as error:
        raise StoreIOError(f"cannot create {path}: {error}") from error


def connect(path: Path, key: bytes, config: StoreConfig, mode: str) -> Any:
    """A connection keyed with ``key``, proven by reading the schema, with the store's pragmas."""
    connection = raw_connection(path, config, mode)
    try:
        _unlock(connection, path, key, config)
    except BaseException:
        connection.close()
        raise
    return connection


def prove_key_touching_nothing(path: Path, key: bytes, config: StoreConfig) -> None:
    """``WrongKeyError``, with every file as it was, if ``key`` does not decrypt the store.

    A writable connection that finds a write-ahead log checkpoints it into the file and
    deletes the -wal and -shm when it closes, key or no key; and even a read-only one
    truncates and rebuilds a -shm no other process has open, and marks its reads in it.
    This one opens the -shm read-only too (``readonly_shm``): SQLite then reads the log
    into its own memory, as on read-only media, and writes nowhere. It reads what a
    writable connection would read (the log included), so a key it accepts is the key.
    Any other failure (no -shm to open beside the log, ...) is left to the writable
    connection to report, as before.
    """
    try:
        reader = raw_connection(path, config, "ro&readonly_shm=1")
    except StoreError:
        return
    try:
        _prove_key(reader, path, key, config)
    except WrongKeyError:
        raise
    except (StoreError, sqlcipher3.Error):
        return
    finally:
        reader.close()


def check_part_page(path: Path, key: bytes, config: StoreConfig) -> None:
    """Refuse a file whose part page the WAL does not make whole.

    Read through a read-only connection: closing a writable one would checkpoint the WAL
    into the damaged file, and remove it.
    """
    size = path.stat().st_size
    try:
        reader = connect(path, key, config, "ro")
        try:
            with translating(path, config.busy_timeout_s):
                rows = list(reader.execute("PRAGMA quick_check").fetchall())
        finally:
            reader.close()
    except StoreCorruptError as error:  # a page that fails its HMAC stops the check
        rows = [(str(error),)]
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        raise StoreCorruptError(
            f"{path} is truncated or damaged: {size} bytes is not a whole number of"
            f" pages, and its write-ahead log does not make them whole ({problems[0]})"
        )


def raw_connection(path: Path, config: StoreConfig, mode: str) -> Any:
    try:
        return sqlcipher3.connect(
            f"{_file_uri(path)}?mode={mode}",
            uri=True,
            isolation_level=None,  # we issue BEGIN / COMMIT ourselves
            timeout=config.busy_timeout_s,
        )
    except sqlcipher3.Error as error:
        raise StoreIOError(f"cannot open {path}: {error}") from error


def _unlock(connection: Any, path: Path, key: bytes, config: StoreConfig) -> None:
    _prove_key(connection, path, key, config)
    with translating(path, config.busy_timeout_s):
        connection.execute("PRAGMA journal_mode = WAL")
        for pragma in (
            "synchronous = FULL",  # WAL fsync on every commit: COMMIT returned = durable
            "foreign_keys = ON",
            "temp_store = MEMORY",  # no plaintext temp files beside the store
            "secure_delete = ON",  # erased biometrics are overwritten, not left in free pages
        ):
            connection.execute(f"PRAGMA {pragma}")


def _prove_key(connection: Any, path: Path, key: bytes, config: StoreConfig) -> None:
    """Key the connection and read the schema: ``WrongKeyError`` if it does not decrypt."""
    connection.execute("PRAGMA cipher_log_level = NONE")  # errors are ours to report
    hand_key(connection, key)  # its text wiped, and what SQLite frees of it
    try:
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlcipher3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", None) == NOTADB:
            raise WrongKeyError(f"{path} does not open with this key") from None
        raise translate(error, path, config.busy_timeout_s) or error from error


def _file_uri(path: Path) -> str:
    """``path`` as the ``file:`` URI SQLite is given: escaped, as ``#`` would end the path,
    ``?`` begin its parameters and ``%`` an escape, in a folder's name; its bytes as the file
    system holds them, so a name that is not UTF-8 is that file too."""
    return "file:" + urllib.parse.quote(os.fsencode(path), safe="/")  # a name not UTF-8 too
