"""The catch spool's key taken from the open store (``Store.spool_key``) opens the spool
without the store only while it is the store's key, never during a restore or key change,
and never shows the key. A real store file, a real lock held by a second holder."""

from __future__ import annotations

from pathlib import Path

from sync.store import Passphrase, Store
from sync.store.in_use import InUse
from sync.store.pending_catches import spool_exists
from sync.store.spool_key import SpoolKey
from tests.sync.conftest import FAST

PASSPHRASE = "a long boat passphrase"


def taken(path: Path, passphrase: str = PASSPHRASE) -> SpoolKey:
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        return store.spool_key


def make_store(tmp_path: Path) -> Path:
    path = tmp_path / "jaga.db"
    Store.create(path, Passphrase(PASSPHRASE), config=FAST).close()
    return path


def test_the_key_opens_the_spool_with_the_store_closed(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    key = taken(path)
    assert key.key.hex() not in repr(key)
    held = key.open()
    assert held is not None, "the key taken from the store did not open its spool"
    held.database.close()
    held.release()
    assert spool_exists(path)  # made, under the store's key: the store's own open reads it
    assert taken(path).open() is not None


def test_a_key_taken_before_a_key_change_opens_nothing(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    before = taken(path)  # no spool yet: the key change moves none
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(Passphrase("another boat passphrase"), operator="test")
    assert before.open() is None, "a key the store no longer has opened (or made) its spool"
    assert not spool_exists(path)


def test_nothing_opens_while_a_restore_or_key_change_holds_the_store(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    key = taken(path)
    alone = InUse.alone(path, "restore")
    try:
        assert key.open() is None, "the spool opened under a restore"
    finally:
        alone.release()
    assert not spool_exists(path)
