"""Which of our errors a failed SQLite call is, and whether a write failed for lack of room.

Apart from ``sync.store.database`` because it is a table, not a connection: SQLite's primary
result codes mapped to the ``sync.errors`` tree, and the look at the file and its file system
(a size limit, a full disk) that tells a bare "disk I/O error" that is ENOSPC or EFBIG from
one that is not. ``Database`` translates through it (``translating``), and so do the opening
(``sync.store.database_open``) and ``copy_private_file``.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlcipher3

from sync.errors import (
    RecordConflictError,
    RecordTooLargeError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
)

# Primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT = 5, 6, 8, 10, 11
_FULL, _CANTOPEN, _TOOBIG, _CONSTRAINT, NOTADB, _PERM = 13, 14, 18, 19, 26, 3
# A write that fails this close to a size limit failed because of it: SQLite writes at most a
# few pages (plus a WAL frame header each) past the current end of a file.
_HEADROOM = 256 * 1024


def translate(error: sqlcipher3.Error, path: Path, busy_timeout_s: float) -> StoreError | None:
    """Our error for a SQLite error, or None when it is a bug that should surface as is."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    message = str(error)
    if primary == _CONSTRAINT:
        # Only a duplicate key is the caller's situation; a failed CHECK is our bug.
        if "UNIQUE constraint failed" in message:
            return RecordConflictError(f"already in the store: {message}")
        return None
    if primary == _IOERR and (reason := out_of_room(path)) is not None:
        return StoreFullError(
            f"no space left for {path} ({reason}); the transaction was not written"
        )
    make = _TRANSLATIONS.get(primary) if primary is not None else None
    return None if make is None else make(path, message, busy_timeout_s)


@contextlib.contextmanager
def translating(path: Path, busy_timeout_s: float) -> Iterator[None]:
    """Run SQL and re-raise its known failures as our errors; a bug surfaces as it is."""
    try:
        yield
    except sqlcipher3.Error as error:
        raise translate(error, path, busy_timeout_s) or error from error


def out_of_room(path: Path) -> str | None:
    """Why a write failed for lack of room, if it did; else None.

    ENOSPC reaches us as SQLITE_FULL, but a file-size limit (EFBIG: RLIMIT_FSIZE, a quota,
    a FAT32 card) arrives as a bare "disk I/O error". Look for either situation here.
    """
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                if path.with_name(path.name + suffix).stat().st_size + _HEADROOM >= limit:
                    return f"the file-size limit of {limit} bytes is reached"
    with contextlib.suppress(OSError):
        stats = os.statvfs(path.parent)
        if stats.f_bavail * stats.f_frsize < _HEADROOM:
            return "the file system is full"
    return None


_TRANSLATIONS: dict[int, Callable[[Path, str, float], StoreError]] = {
    _BUSY: lambda path, _, timeout: StoreLockedError(
        f"{path} is being written by another process; gave up after {timeout:g} s"
    ),
    _FULL: lambda path, message, _: StoreFullError(
        f"no space left for {path} ({message}); the transaction was not written"
    ),
    _CORRUPT: lambda path, message, _: StoreCorruptError(f"{path} is damaged: {message}"),
    # After the key proved itself: a key change or restore under an open store is refused
    # (sync.store.in_use), so only a program that ignores that lock, or damage, gets here.
    NOTADB: lambda path, _, __: StoreCorruptError(
        f"{path} no longer decrypts with the key it was opened with: damaged, or its key was"
        " changed or the file replaced by a program that ignores Jaga's in-use lock"
        " (open it again)"
    ),
    _TOOBIG: lambda path, message, _: RecordTooLargeError(f"too large for {path}: {message}"),
    _IOERR: lambda path, message, _: StoreIOError(f"cannot read or write {path}: {message}"),
}
_TRANSLATIONS[_LOCKED] = _TRANSLATIONS[_BUSY]
for _code in (_READONLY, _CANTOPEN, _PERM):
    _TRANSLATIONS[_code] = _TRANSLATIONS[_IOERR]
