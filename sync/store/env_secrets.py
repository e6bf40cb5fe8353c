"""Secrets taken out of the process's environment, leaving no copy of them behind there.

Unsetting a variable (``os.environ.pop``) leaves its value where it was: in the bytes
object ``os.environ`` kept (``posix.environ``, the same dict), and in the C environment's
string, which for a variable the process was started with lies in the block at the top of
its stack that ``/proc/PID/environ`` shows (readable by its user and root). A scan of the
Catch panel's memory found the passphrase there (``tests/desktop/test_catch_closed_memory``).
``take_secret`` overwrites both before it unsets the variable, and hands the value over in
a ``bytearray`` its holder can overwrite in turn. Linux and other POSIX systems with a C
library ``ctypes`` can load; elsewhere the value is only unset.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping

from sync.store.key_memory import wipe


def take_secret(env: MutableMapping[str, str], name: str) -> bytearray | None:
    """``name``'s value taken out of ``env``, as UTF-8 in a ``bytearray``; None when unset.
    From ``os.environ``, the copies it and the C environment held are overwritten first; a
    value from another mapping (a test's) leaves the caller's ``str`` as it was."""
    if env is os.environ and os.name == "posix":
        return _take_from_process(name)
    value = env.pop(name, None)
    if value is None:
        return None
    encoded = value.encode("utf-8", "surrogateescape")
    try:
        return bytearray(encoded)
    finally:
        wipe(encoded)


def _take_from_process(name: str) -> bytearray | None:
    key = os.fsencode(name)
    _overwrite_c_value(key)
    value = os.environb.pop(key, None)  # unsets it in the C environment too
    if value is None:
        return None
    held = bytearray(value)
    wipe(value)  # os.environ's bytes: no other holder once popped
    return held


def _overwrite_c_value(key: bytes) -> None:
    """Overwrite the C environment's copy of ``key``'s value where it lies (the process's
    first stack, or a ``setenv`` copy on the heap), before it is unset."""
    try:
        libc = ctypes.CDLL(None)
        getenv = libc.getenv
    except (OSError, AttributeError):
        return
    getenv.restype = ctypes.c_void_p
    getenv.argtypes = [ctypes.c_char_p]
    address = getenv(key)
    if address:
        ctypes.memset(address, 0, len(ctypes.string_at(address)))
