"""``sync.store.key_memory``: a key's copies overwritten once nothing else holds them, and
SQLCipher's memory security on for every store. The whole story (the panel's memory read
by another process) is ``tests/desktop/test_catch_closed_memory.py``."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from sync.store import Passphrase, Store
from sync.store.database import Database
from sync.store.key_memory import wipe
from tests.sync.conftest import FAST


def test_a_key_nothing_else_holds_is_overwritten() -> None:
    key = secrets.token_bytes(32)
    digits = secrets.token_hex(32)
    assert wipe(key) and key == bytes(32)
    assert wipe(digits) and digits == "\0" * 64


def test_a_key_held_elsewhere_is_left_as_it_was() -> None:
    key = secrets.token_bytes(32)
    kept = [key]
    assert not wipe(key)
    assert kept[0] == key != bytes(32)
    name = sys.intern(secrets.token_hex(8))  # interned: shared by every use of the text
    assert not wipe(name, holders=1) and name != "\0" * 16


def test_a_key_a_caller_kept_still_opens_the_store_after_the_close(tmp_path: Path) -> None:
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase("a passphrase"), config=FAST).close()
    with Store.open(path, Passphrase("a passphrase"), config=FAST) as store:
        key = store.key  # as a backup or a restore keeps it past the close
    assert key != bytes(32)
    Database.open(path, key, FAST, create=False).close()


def test_a_stores_connection_has_sqlciphers_memory_security_on(tmp_path: Path) -> None:
    """What SQLite frees (its copies of the key's PRAGMA among it) is overwritten first."""
    path = tmp_path / "jaga.db"
    with Store.create(path, Passphrase("a passphrase"), config=FAST) as store:
        assert store.database.query("PRAGMA cipher_memory_security") == [("1",)]
