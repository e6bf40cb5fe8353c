"""The store's key overwritten in memory once used: the copies Python and SQLite make of it.

CPython's ``bytes`` and ``str`` are immutable, and the memory of one that is freed goes back
to the allocator as it was: a scan of the Catch panel's memory after its start and a Record
found the store's key there, in scrypt's output, in its hex digits and in the ``PRAGMA key``
that hands them to SQLCipher, though the store was closed and no object held them
(``tests/desktop/test_catch_closed_memory.py``). So:

* ``wipe`` overwrites such an object with zeros before it is let go, and only when nothing
  else holds it (its reference count says so): a caller that kept ``Store.key`` keeps a key
  that works. It knows CPython's layout of ``bytes`` and of an ASCII ``str`` on the versions
  it lists; elsewhere it leaves the object as it is (and the memory test fails);
* ``hand_key`` hands SQLCipher the key in a ``PRAGMA key`` (or ``rekey``), run through
  ``executescript``, which keeps no statement (``execute`` would keep the text in the
  connection's statement cache until it closes), and wipes its text and digits after;
* what SQLite copies of that text (its parser's copy, the prepared statement's) and frees
  is overwritten by SQLCipher's memory security (``PRAGMA cipher_memory_security = ON``),
  which ``turn_on_memory_security`` sets before the first key is handed over. It is the
  whole process's, and cannot be turned off again (SQLCipher 4.5+), so it cannot be kept to
  the connections that handle a key: every connection pays it. Measured (CPU time, median
  of 9, ``python -m tests.sync.memory_security_bench --rounds 9``): an open and 1,000 small
  reads 20.5 ms off, 30.3 ms on (1.48x, some 10 µs a read); one 2 MiB query 11.6 and
  13.0 ms (1.12x). A Catch panel action pays scrypt (0.5 s or more) and a few reads, so it
  is on for every store.

What this does not reach: copies made by code outside ours (OpenSSL's scrypt and HMAC: none
was found by the scan, which says no more than that), and pages the OS swapped out before
they were wiped. The passphrase is held in a buffer of its own (``sync.store.passphrase``);
the texts made of it for scrypt are overwritten with ``overwrite``, ASCII or not.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from typing import Any, Literal

KEY_BYTES = 32  # a store's key: SQLCipher's raw 256-bit key
# Where the characters of a bytes object, and of a compact ASCII str, start; the offset of a
# str's ``state`` bit field (its ``interned`` bits first). CPython 3.11, the one it was checked
# on: another version's layout is to be checked (the memory test) before it is listed here.
_KNOWN_LAYOUT = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)
_BYTES_DATA = sys.getsizeof(b"") - 1
_ASCII_DATA = sys.getsizeof("") - 1
_COMPACT_DATA = sys.getsizeof("\xe9") - 2  # a compact non-ASCII str's: one char, then NUL
_STR_STATE = 32
_STR_KIND_SHIFT, _STR_KIND_MASK = 2, 0b111  # the state's bytes per character (1, 2, 4)
_STR_COMPACT = 0b100000
# The references ``wipe`` itself adds: its parameter and ``sys.getrefcount``'s argument.
_OWN_REFERENCES = 2

_turned_on = threading.Event()
_turning_on = threading.Lock()


def wipe(value: bytes | str, *, holders: int = 1) -> bool:
    """Overwrite ``value``'s characters with zeros if exactly ``holders`` references hold it
    (the caller's); whether it did. Never a shared object: an interned ``str``, a cached
    one-character ``bytes``, one anybody else still holds is left alone."""
    if not _KNOWN_LAYOUT or len(value) < 2:
        return False
    if sys.getrefcount(value) != holders + _OWN_REFERENCES:
        return False
    return _overwrite(value)


def overwrite(value: bytes | str) -> bool:
    """Overwrite ``value``'s characters with zeros whoever holds it; whether it did. Only for
    a copy the caller made itself (a passphrase decoded from its buffer, a normalised form
    of it) and that nothing uses once it is overwritten: holders count for nothing here.
    Never a shared object all the same: an interned ``str``, a cached one-character one."""
    if not _KNOWN_LAYOUT or len(value) < 2:
        return False
    return _overwrite(value)


def _overwrite(value: bytes | str) -> bool:
    if type(value) is bytes:
        ctypes.memset(id(value) + _BYTES_DATA, 0, len(value))
        return True
    if type(value) is not str:
        return False
    state = ctypes.c_uint8.from_address(id(value) + _STR_STATE).value
    if state & 0b11 or not state & _STR_COMPACT:  # interned, or a legacy (non-compact) str
        return False
    if value.isascii():
        ctypes.memset(id(value) + _ASCII_DATA, 0, len(value))
        return True
    # Its UTF-8 cache, if one was ever made, is not reached: str.encode makes none.
    kind = (state >> _STR_KIND_SHIFT) & _STR_KIND_MASK
    ctypes.memset(id(value) + _COMPACT_DATA, 0, len(value) * kind)
    return True


def zero(buffer: bytearray) -> None:
    """Overwrite a mutable secret where it lies (a passphrase's or a spool key's buffer),
    then empty it: whoever holds it sees that it is gone, not a key of zeros."""
    memoryview(buffer)[:] = bytes(len(buffer))
    del buffer[:]


def hand_key(
    connection: Any, key: bytes | bytearray, verb: Literal["key", "rekey"] = "key"
) -> None:
    """Key (or rekey) ``connection`` with a raw 256-bit key (no SQLCipher-side KDF): the
    PRAGMA's text run through ``executescript``, which keeps no statement of it, and wiped."""
    turn_on_memory_security(connection)
    sql = _key_pragma(key, verb)
    try:
        connection.executescript(sql)
    finally:
        wipe(sql)


def _key_pragma(key: bytes | bytearray, verb: Literal["key", "rekey"]) -> str:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a store key is {KEY_BYTES} bytes, not {len(key)}")
    digits = key.hex()
    sql = f"PRAGMA {verb} = \"x'{digits}'\""
    wipe(digits)
    return sql


def turn_on_memory_security(connection: Any) -> None:
    """SQLCipher's memory security, for the whole process, once: what SQLite frees from now
    on is overwritten first (the copies of a key's PRAGMA among it)."""
    if _turned_on.is_set():
        return
    with _turning_on:
        if not _turned_on.is_set():
            connection.execute("PRAGMA cipher_memory_security = ON")
            _turned_on.set()
