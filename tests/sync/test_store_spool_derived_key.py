"""The catch spool is under a key derived from the store's (HKDF-SHA256), never under the
store's raw key: the key the Catch panel holds while it runs (``Store.spool_key``) opens the
spool and nothing else. A spool an earlier release kept under the store's raw key is
re-encrypted at its first open with the store's key, losing nothing, even killed midway
(real processes, SIGKILL). Real store files, real SQLCipher."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.errors import KeyNotChangedError, WrongKeyError
from sync.store import Passphrase, Store
from sync.store.backups import backup, restore
from sync.store.database import Database
from sync.store.pending_catches import open_spool, pending_count, spool_path
from sync.store.spool_kdf import hkdf_sha256, spool_key_from
from tests.sync.conftest import FAST, REPO_ROOT
from tests.sync.test_store_spool_key import make_store

PASSPHRASE = "a long boat passphrase"
NEW_PASSPHRASE = "another boat passphrase"


def test_the_panels_spool_key_is_not_the_stores_key(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        store_key, taken = store.key, store.spool_key
    assert taken.key != store_key, "the spool key the panel holds is the store's raw key"
    assert store_key.hex() not in repr(vars(taken))
    held = taken.open()
    assert held is not None
    held.database.close()
    held.release()
    with pytest.raises(WrongKeyError):  # the store's raw key does not open the spool
        Database.open(spool_path(path), store_key, FAST, create=False).close()
    Database.open(spool_path(path), bytes(taken.key), FAST, create=False).close()


def test_hkdf_sha256_gives_rfc_5869s_test_vectors() -> None:
    """RFC 5869, A.1 and A.3 (no salt, no info); OpenSSL 3's `kdf HKDF` gives the same."""
    ikm = b"\x0b" * 22
    okm = hkdf_sha256(ikm, salt=bytes(range(13)), info=bytes(range(0xF0, 0xFA)), length=42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )
    assert hkdf_sha256(ikm, salt=b"", info=b"", length=42).hex() == (
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )
    with pytest.raises(ValueError, match="is 32 bytes"):
        spool_key_from(b"short")


def store_key(path: Path, passphrase: str = PASSPHRASE) -> bytes:
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        return store.key


def earlier_release_spool(path: Path, passphrase: str = PASSPHRASE) -> list[str]:
    """A spool as a release before the derived key kept it: its catches under the store's
    raw key (made by this release, then re-encrypted back). Photos big enough for many
    pages. Its uids, sorted."""
    uids = sorted(f"catch-{n}" for n in range(3))
    with Store.open(path, Passphrase(passphrase), config=FAST) as store:
        spool = open_spool(path, store.key, store.header.current, None, FAST)
        try:
            with spool.write() as connection:
                for uid in uids:
                    photo = os.urandom(60_000)
                    row = (uid, "2026-12-03T10:00:00+00:00", '{"officer": "Ana Lima"}', photo)
                    connection.execute("INSERT INTO pending VALUES (?, ?, ?, ?)", row)
            spool.rekey(store.key)
        finally:
            spool.close()
    assert uids_under(path, store_key(path, passphrase)) == uids  # the test's premise
    return uids


def uids_under(path: Path, key: bytes) -> list[str]:
    """The spool's uids read with ``key`` alone; WrongKeyError if it does not open it."""
    spool = Database.open(spool_path(path), key, FAST, create=False)
    try:
        return [str(row[0]) for row in spool.query("SELECT uid FROM pending ORDER BY uid")]
    finally:
        spool.close()


def open_as_the_panel_does(path: Path) -> list[str]:
    """The spool opened with the store's key (``CatchSpool.open`` at the panel's start)."""
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        spool = open_spool(path, store.key, store.header.current, None, FAST)
    try:
        return [str(row[0]) for row in spool.query("SELECT uid FROM pending ORDER BY uid")]
    finally:
        spool.close()


def assert_under_the_spool_key_only(
    path: Path, uids: list[str], passphrase: str = PASSPHRASE
) -> None:
    key = store_key(path, passphrase)
    with pytest.raises(WrongKeyError):
        uids_under(path, key)
    assert uids_under(path, spool_key_from(key)) == uids


def test_an_earlier_releases_spool_is_re_encrypted_at_its_first_open(tmp_path: Path) -> None:
    path = make_store(tmp_path)
    uids = earlier_release_spool(path)
    assert pending_count(path, store_key(path), FAST) == len(uids)  # counted, left as it is
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        taken = store.spool_key
    assert taken.open() is None, "the spool key opened a spool under the store's raw key"
    assert open_as_the_panel_does(path) == uids, "a catch was lost re-encrypting the spool"
    assert_under_the_spool_key_only(path, uids)
    held = taken.open()
    assert held is not None, "the spool key does not open the re-encrypted spool"
    held.database.close()
    held.release()


def test_a_key_change_moves_an_earlier_releases_spool_under_the_new_spool_key(
    tmp_path: Path,
) -> None:
    path = make_store(tmp_path)
    uids = earlier_release_spool(path)
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
        new_key = store.key
    with pytest.raises(WrongKeyError):
        uids_under(path, new_key)
    assert uids_under(path, spool_key_from(new_key)) == uids
    assert pending_count(path, new_key, FAST) == len(uids)


def test_a_restore_moves_an_earlier_releases_spool_under_the_backups_spool_key(
    tmp_path: Path,
) -> None:
    """The key changed since the backup, and the spool is still under the replaced store's
    raw key: the restore keeps every catch, under the spool key of the backup's key."""
    path = make_store(tmp_path)
    backup_path = tmp_path / "backup.db"
    with Store.open(path, Passphrase(PASSPHRASE), config=FAST) as store:
        backup(store, backup_path, operator="test")
        store.change_key(Passphrase(NEW_PASSPHRASE), operator="test")
    uids = earlier_release_spool(path, NEW_PASSPHRASE)
    restored = restore(
        backup_path, path, Passphrase(PASSPHRASE), operator="test", force=True,
        replaced_source=Passphrase(NEW_PASSPHRASE), config=FAST,
    )  # fmt: skip
    assert restored.pending_catches == len(uids)
    assert_under_the_spool_key_only(path, uids)


@pytest.mark.parametrize("step", ["opened", "rekeyed"])
def test_a_re_encryption_killed_midway_loses_no_catch(tmp_path: Path, step: str) -> None:
    """Killed (SIGKILL) with the spool open under the store's raw key, or with its
    re-encryption committed to the write-ahead log only: the next open reads every catch,
    and leaves the spool under the spool's key."""
    path = make_store(tmp_path)
    uids = earlier_release_spool(path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.sync.spool_migrate_worker", str(path), PASSPHRASE, step],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert worker.stdout is not None
    try:
        assert worker.stdout.readline().strip() == step
        worker.kill()
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=60)
    wal = spool_path(path).with_name(spool_path(path).name + "-wal")
    if step == "rekeyed":  # the kill came after the commit, before the checkpoint
        assert wal.stat().st_size > 0
        with pytest.raises(WrongKeyError):  # committed: the log's pages are the spool key's
            uids_under(path, store_key(path))
    else:  # killed before the re-encryption: still the earlier release's
        assert uids_under(path, store_key(path)) == uids
    assert open_as_the_panel_does(path) == uids, f"a catch was lost: killed at {step}"
    assert_under_the_spool_key_only(path, uids)


def test_a_re_encryption_that_fails_keeps_the_spool_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLCipher's rekey refused (another process writing the spool past the busy timeout,
    no room: faked here, the refusal is ``Database.rekey``'s): the spool opens under the
    store's raw key all the same, every catch in it, and the next open re-encrypts it."""
    path = make_store(tmp_path)
    uids = earlier_release_spool(path)

    def refused(database: Database, key: bytes) -> None:
        raise KeyNotChangedError(f"cannot re-encrypt {database.path}: locked (faked)")

    with monkeypatch.context() as patched:
        patched.setattr(Database, "rekey", refused)
        assert open_as_the_panel_does(path) == uids, "the spool did not open"
    assert uids_under(path, store_key(path)) == uids  # not re-encrypted yet
    assert open_as_the_panel_does(path) == uids
    assert_under_the_spool_key_only(path, uids)
