"""Opening with a passphrase or key file, wrong keys, the key header, and rekeying."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sync.errors import (
    KeyNotChangedError,
    KeySourceError,
    NotAStoreError,
    StoreExistsError,
    StoreLockedError,
    WrongKeyError,
)
from sync.store import KeyFile, Passphrase, Store, StoreConfig, create_key_file
from sync.store import keys as store_keys
from sync.store.in_use import IN_USE_SUFFIX
from sync.store.store import key_change_lock
from tests.sync.conftest import FAST, FakeClock, enrol


def folder_state(folder: Path) -> dict[str, str]:
    """Every file in the folder with the SHA-256 of its bytes, but a store's in-use lock: an
    empty file that whoever opens a store first makes, and leaves (sync.store.in_use)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.endswith(IN_USE_SUFFIX)
    }


def test_a_store_reopens_with_its_passphrase(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        person_uid = enrol(store, clock, "B-1", seed=1)
    with Store.open(db_path, passphrase, config=FAST) as store:
        assert store.people.get(person_uid).external_id == "B-1"


def test_a_store_reopens_with_its_key_file(
    db_path: Path, key_file: KeyFile, clock: FakeClock
) -> None:
    with Store.create(db_path, key_file, clock=clock, config=FAST) as store:
        person_uid = enrol(store, clock, "B-1", seed=1)
    with Store.open(db_path, key_file, config=FAST) as store:
        assert store.people.get(person_uid).display_name == "Person B-1"


def test_wrong_passphrase_is_refused_and_leaves_every_file_untouched(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        enrol(store, clock, "B-1", seed=1)
    before = folder_state(db_path.parent)
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        Store.open(db_path, Passphrase("not the passphrase"), config=FAST)
    assert folder_state(db_path.parent) == before


def test_wrong_key_file_is_refused_and_leaves_every_file_untouched(
    db_path: Path, key_file: KeyFile, tmp_path: Path, clock: FakeClock
) -> None:
    Store.create(db_path, key_file, clock=clock, config=FAST).close()
    other = create_key_file(tmp_path / "other.key")
    before = folder_state(db_path.parent)
    with pytest.raises(WrongKeyError, match="wrong key file"):
        Store.open(db_path, other, config=FAST)
    assert folder_state(db_path.parent) == before


def test_a_passphrase_store_refuses_a_key_file(
    store: Store, db_path: Path, key_file: KeyFile
) -> None:
    store.close()
    with pytest.raises(KeySourceError, match="opened with a passphrase"):
        Store.open(db_path, key_file, config=FAST)


def test_the_key_header_holds_no_secret(db_path: Path, passphrase: Passphrase) -> None:
    with passphrase.revealed() as revealed:
        secret = revealed.encode()  # a copy of its own: the revealed text is overwritten
    store = Store.create(db_path, passphrase, config=FAST)
    key_hex = store.key.hex()
    store.close()
    header_text = store_keys.header_path(db_path).read_text()
    header = json.loads(header_text)
    assert secret.decode() not in header_text
    assert key_hex not in header_text
    assert set(header["current"]) == {"kind", "key_check", "kdf"}
    assert header["current"]["kdf"]["name"] == "scrypt"
    assert header["current"]["kdf"]["n"] == FAST.scrypt_n


def test_two_stores_with_one_passphrase_get_different_salts_and_keys(
    tmp_path: Path, passphrase: Passphrase
) -> None:
    first = Store.create(tmp_path / "a.db", passphrase, config=FAST)
    second = Store.create(tmp_path / "b.db", passphrase, config=FAST)
    assert first.key != second.key
    assert first.header.current.scrypt != second.header.current.scrypt
    first.close()
    second.close()


def test_the_passphrase_never_appears_in_reprs() -> None:
    assert "hunter2" not in repr(Passphrase("hunter2"))


def test_a_key_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    created = create_key_file(tmp_path / "k")
    assert created.path.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(created.path.read_text().strip())) == 32


def test_an_existing_key_file_is_never_overwritten(key_file: KeyFile) -> None:
    with pytest.raises(KeySourceError, match="already exists"):
        create_key_file(key_file.path)


def test_init_refuses_to_overwrite_a_store(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    with pytest.raises(StoreExistsError):
        Store.create(db_path, passphrase, config=FAST)


def test_a_store_without_its_key_header_is_not_opened(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    store.close()
    store_keys.header_path(db_path).unlink()
    with pytest.raises(NotAStoreError, match="no key header"):
        Store.open(db_path, passphrase, config=FAST)


def test_rekey_opens_with_the_new_passphrase_only_and_keeps_the_data(
    store: Store, db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    store.change_key(Passphrase("a new passphrase"), operator="admin")
    store.close()
    with pytest.raises(WrongKeyError):
        Store.open(db_path, passphrase, config=FAST)
    with Store.open(db_path, Passphrase("a new passphrase"), config=FAST) as reopened:
        assert reopened.people.get(person_uid).external_id == "B-1"
        assert reopened.integrity().ok
        assert reopened.audit.entries()[-1].action == "store.rekeyed"


def test_rekey_from_passphrase_to_key_file(
    store: Store, db_path: Path, key_file: KeyFile, passphrase: Passphrase
) -> None:
    store.change_key(key_file, operator="admin")
    store.close()
    with pytest.raises(KeySourceError):
        Store.open(db_path, passphrase, config=FAST)
    with Store.open(db_path, key_file, config=FAST) as reopened:
        assert reopened.header.current.kind == "key_file"


def test_a_rekey_interrupted_after_reencrypting_opens_with_the_new_key(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    # The crash window: the file is re-encrypted but the header still lists the new key as
    # pending. Opening with the new passphrase must work and settle the header.
    new = Passphrase("new one")
    slot, key = store_keys.new_slot(new, scrypt_n=FAST.scrypt_n)
    store_keys.write_header(db_path, store_keys.with_pending(store.header, slot))
    store.database.rekey(key)
    store.close()
    # Not "damaged": the old passphrase no longer opens it because the change went through.
    with pytest.raises(
        WrongKeyError, match=r"interrupted and has probably finished.*new passphrase"
    ):
        Store.open(db_path, passphrase, config=FAST)
    with Store.open(db_path, new, config=FAST) as reopened:
        assert reopened.integrity().ok
    header = store_keys.read_header(db_path)
    assert header.pending is None
    assert header.current == slot


def test_a_rekey_interrupted_before_reencrypting_still_opens_with_the_old_key(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    slot, _ = store_keys.new_slot(Passphrase("new one"), scrypt_n=FAST.scrypt_n)
    old_header = store.header
    store_keys.write_header(db_path, store_keys.with_pending(old_header, slot))
    store.close()
    with pytest.raises(WrongKeyError, match=r"interrupted before.*old passphrase"):
        Store.open(db_path, Passphrase("new one"), config=FAST)  # matches its slot, not the file
    Store.open(db_path, passphrase, config=FAST).close()
    assert store_keys.read_header(db_path) == old_header


@pytest.mark.parametrize("reencrypted", [False, True])
def test_a_key_change_to_a_key_file_interrupted_still_opens_with_the_key_the_file_has(
    reencrypted: bool, store: Store, db_path: Path, passphrase: Passphrase, tmp_path: Path
) -> None:
    """A slot of the other kind is no match, not an error: before the re-encryption the
    passphrase opens the store, after it the key file does."""
    new = create_key_file(tmp_path / "new.key")
    slot, key = store_keys.new_slot(new, scrypt_n=FAST.scrypt_n)
    store_keys.write_header(db_path, store_keys.with_pending(store.header, slot))
    if reencrypted:
        store.database.rekey(key)
    store.close()
    works, fails = (new, passphrase) if reencrypted else (passphrase, new)
    told = "and has probably finished.*new key file" if reencrypted else "before.*old passphrase"
    with pytest.raises(WrongKeyError, match=f"interrupted {told}"):  # its slot, not the file
        Store.open(db_path, fails, config=FAST)
    with Store.open(db_path, works, config=FAST) as reopened:
        assert reopened.integrity().ok


def test_an_open_during_a_key_change_leaves_its_pending_slot(
    store: Store, db_path: Path, passphrase: Passphrase
) -> None:
    """Another process opening the store while a key change runs must not settle the header
    on the old key: the change may re-encrypt the file a moment later."""
    new = Passphrase("new one")
    slot, key = store_keys.new_slot(new, scrypt_n=FAST.scrypt_n)
    with key_change_lock(db_path):  # what change_key holds from its first write to its last
        store_keys.write_header(db_path, store_keys.with_pending(store.header, slot))
        Store.open(db_path, passphrase, config=FAST).close()
        assert store_keys.read_header(db_path).pending == slot
        store.database.rekey(key)
    store.close()  # ... and the change died before settling the header itself
    with Store.open(db_path, new, config=FAST) as reopened:
        assert reopened.integrity().ok


def test_a_key_change_that_fails_leaves_the_header_as_it_was(
    store: Store, db_path: Path, passphrase: Passphrase, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store_keys.read_header(db_path)

    def busy(key: bytes) -> None:
        raise KeyNotChangedError("the store is busy")

    monkeypatch.setattr(store.database, "rekey", busy)
    with pytest.raises(StoreLockedError):
        store.change_key(Passphrase("new one"), operator="admin")
    assert store_keys.read_header(db_path) == before
    store.close()
    Store.open(db_path, passphrase, config=FAST).close()


def test_a_key_change_interrupted_after_its_reencryption_opens_with_the_new_key(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands as the re-encryption returns, or the checkpoint after it fails: the file
    has the new key, so the header must keep offering it."""
    real_checkpoint = store.database.checkpoint
    calls = []

    def interrupted_after_the_commit() -> bool:
        calls.append(1)
        if len(calls) == 2:  # the checkpoint after PRAGMA rekey
            raise KeyboardInterrupt
        return real_checkpoint()

    monkeypatch.setattr(store.database, "checkpoint", interrupted_after_the_commit)
    new = Passphrase("new one")
    with pytest.raises(KeyboardInterrupt):
        store.change_key(new, operator="admin")
    monkeypatch.undo()
    store.close()
    with Store.open(db_path, new, config=FAST) as reopened:
        assert reopened.integrity().ok


def test_a_key_change_while_another_connection_writes_is_a_clear_error(
    tmp_path: Path, passphrase: Passphrase
) -> None:
    impatient = StoreConfig(busy_timeout_s=0.1, scrypt_n=2**10)
    db = tmp_path / "busy.db"
    Store.create(db, passphrase, config=impatient).close()
    with (
        Store.open(db, passphrase, config=impatient) as store,
        Store.open(db, passphrase, config=impatient) as other,
    ):
        other.database.connection.execute("BEGIN IMMEDIATE")  # the app, mid-commit
        with pytest.raises(StoreLockedError, match="stop the app"):
            store.change_key(Passphrase("new one"), operator="admin")
        other.database.connection.execute("ROLLBACK")
    assert store_keys.read_header(db).pending is None
    Store.open(db, passphrase, config=impatient).close()
