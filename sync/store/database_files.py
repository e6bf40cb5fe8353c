"""A store's file as a file: what it must look like before a connection is made, and a copy.

Apart from ``sync.store.database`` because none of it needs a connection: the checks read the
file's first bytes and its size (and its write-ahead log's) to refuse, unopened, a file that
cannot be one of our encrypted stores, and ``copy_private_file`` copies one (a backup, a
spool) byte for byte. ``Database.open`` runs the checks before it connects.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from sync.durable import create_private
from sync.errors import (
    NotAStoreError,
    StoreCorruptError,
    StoreFullError,
    StoreIOError,
    StoreNotFoundError,
)
from sync.regular_file import open_regular_file
from sync.store.database_errors import out_of_room

SQLITE_MAGIC = b"SQLite format 3\x00"
# What SQLite keeps beside a database file while it is open (or after a crash): a file is
# moved or removed with them, never without.
SIDE_FILES = ("-wal", "-shm", "-journal")
PAGE_SIZE = 4096  # SQLCipher 4's default; every intact store file is a whole number of pages
# A WAL this long holds at least one page: its 32-byte header, a frame's 24-byte header, a page.
_WAL_WITH_A_FRAME = 32 + 24 + PAGE_SIZE


def copy_private_file(source: Path, destination: Path) -> None:
    """Copy a store's file (a backup, a spool) to a new file made 0600, whatever the source's
    mode or the umask (``shutil.copyfile`` would make it 0644); nothing may be at
    ``destination``. No room is ``StoreFullError``."""
    try:
        with source.open("rb") as reading, os.fdopen(create_private(destination), "wb") as out:
            shutil.copyfileobj(reading, out)
    except OSError as error:
        reason = out_of_room(destination)
        if reason is not None or error.errno in (errno.ENOSPC, errno.EFBIG):
            raise StoreFullError(f"no space left for {destination} ({reason or error})") from error
        raise StoreIOError(f"cannot copy {source} to {destination}: {error}") from error


def check_file_looks_encrypted(path: Path) -> bool:
    """Refuse, without opening it, a file that cannot be one of our encrypted stores.

    True when the file ends in a part page beside a WAL with pages in it: a checkpoint cut
    short (a file-size limit), which SQLite repairs from the WAL, or damage, which it does
    not. Only reading it can tell, and ``Database.open`` does before it writes. A device, a
    pipe or a folder is refused by its type, unread (a pipe would wait for a writer for ever).
    """
    try:
        handle = open_regular_file(path, "a store file", NotAStoreError)
        try:
            size = os.fstat(handle).st_size
            head = os.pread(handle, len(SQLITE_MAGIC), 0)
        finally:
            os.close(handle)
    except FileNotFoundError:
        raise StoreNotFoundError(f"no store at {path}; create one with `jaga store init`") from None
    except OSError as error:
        raise StoreIOError(f"cannot read {path}: {error}") from error
    if head == SQLITE_MAGIC:
        raise NotAStoreError(f"{path} is a plain, unencrypted SQLite database, not a Jaga store")
    if size == 0:
        raise StoreCorruptError(f"{path} is empty (truncated to zero bytes)")
    if size % PAGE_SIZE:
        if wal_holds_a_frame(path):
            return True
        raise StoreCorruptError(
            f"{path} is truncated or damaged: {size} bytes is not a whole number of pages"
        )
    return False


def wal_holds_a_frame(path: Path) -> bool:
    """Whether the write-ahead log beside ``path`` is long enough to hold a page."""
    return _wal_size(path) >= _WAL_WITH_A_FRAME


def _wal_size(path: Path) -> int:
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise StoreIOError(f"cannot read {path}-wal: {error}") from error
