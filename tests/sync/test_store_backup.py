"""Encrypted backups and restores."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.errors import StoreExistsError, WrongKeyError
from sync.store import Passphrase, Store, backup, restore
from tests.sync.conftest import FAST, FakeClock, enrol
from tests.sync.test_store_keys import folder_state


def test_a_backup_is_encrypted_and_opens_with_the_same_passphrase(
    store: Store, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    person_uid = enrol(store, clock, "B-MARKER-77", seed=1)
    copy = tmp_path / "backups" / "jaga-2026-03-01.db"
    copy.parent.mkdir()
    backup(store, copy, operator="admin")
    content = copy.read_bytes()
    assert not content.startswith(b"SQLite format 3")
    assert b"B-MARKER-77" not in content
    with Store.open(copy, passphrase, config=FAST) as opened:
        assert opened.people.get(person_uid).external_id == "B-MARKER-77"
        assert opened.integrity().ok
    assert store.audit.entries()[-1].action == "store.backed_up"


def test_a_backup_never_overwrites(store: Store, tmp_path: Path) -> None:
    existing = tmp_path / "taken.db"
    existing.write_bytes(b"keep me")
    with pytest.raises(StoreExistsError):
        backup(store, existing, operator="admin")
    assert existing.read_bytes() == b"keep me"


def test_restore_to_a_new_place(
    store: Store, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    target = tmp_path / "device" / "jaga.db"
    assert restore(tmp_path / "b.db", target, passphrase, operator="admin", config=FAST) is None
    with Store.open(target, passphrase, config=FAST) as restored:
        assert restored.people.get(person_uid).external_id == "B-1"
        assert restored.audit.entries()[-1].action == "store.restored"
        assert restored.audit.verify().ok


def test_restore_over_a_store_needs_force_and_keeps_the_old_one_aside(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    backup(store, tmp_path / "b.db", operator="admin")
    late_uid = enrol(store, clock, "LATE", seed=3)  # after the backup
    store.close()
    with pytest.raises(StoreExistsError, match="--force"):
        restore(tmp_path / "b.db", db_path, passphrase, operator="admin", config=FAST)
    moved = restore(tmp_path / "b.db", db_path, passphrase, operator="a", force=True, config=FAST)
    assert moved is not None
    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert restored.people.count() == 0
    with Store.open(moved, passphrase, config=FAST) as old:
        assert old.people.get(late_uid).external_id == "LATE"


def test_restore_with_a_wrong_passphrase_touches_nothing(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    backup(store, tmp_path / "b.db", operator="admin")
    store.close()
    before = folder_state(db_path.parent)
    with pytest.raises(WrongKeyError):
        restore(tmp_path / "b.db", db_path, Passphrase("wrong"), operator="a", force=True)
    assert folder_state(db_path.parent) == before
