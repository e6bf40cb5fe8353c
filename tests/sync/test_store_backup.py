"""Encrypted backups and restores."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO
from uuid import UUID

import pytest

from sync.client.apply import apply_page
from sync.durable import temporary_beside
from sync.errors import (
    RecordNotFoundError,
    ReplacedStoreUnreadableError,
    StoreCorruptError,
    StoreExistsError,
    StoreFullError,
    WrongKeyError,
)
from sync.protocol import Change
from sync.store import FishObservation, Passphrase, Photo, Store, backup, restore
from sync.store import keys as store_keys
from tests.sync.conftest import FAST, MODEL, REPO_ROOT, FakeClock, enrol
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
    outcome = restore(tmp_path / "b.db", target, passphrase, operator="admin", config=FAST)
    assert not outcome.replaced and outcome.erasures_carried == 0
    with Store.open(target, passphrase, config=FAST) as restored:
        assert restored.people.get(person_uid).external_id == "B-1"
        assert restored.audit.entries()[-1].action == "store.restored"
        assert restored.audit.verify().ok


def test_restore_over_a_store_needs_force_and_then_deletes_the_store_it_replaced(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """It holds everyone it held under the same key: an erasure would never reach it."""
    backup(store, tmp_path / "b.db", operator="admin")
    enrol(store, clock, "LATE", seed=3)  # after the backup
    store.close()
    with pytest.raises(StoreExistsError, match="--force") as refused:
        restore(tmp_path / "b.db", db_path, passphrase, operator="admin", config=FAST)
    assert "deleted" in str(refused.value) and "kept aside" not in str(refused.value)
    assert restore(
        tmp_path / "b.db",
        db_path,
        passphrase,
        operator="a",
        force=True,
        discard_unsynced=True,
        config=FAST,
    ).replaced
    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert restored.people.count() == 0
    assert sorted(p.name for p in db_path.parent.iterdir()) == [
        "jaga.db", "jaga.db.in-use", "jaga.db.kdf.json"
    ]  # fmt: skip


def test_a_backup_or_restore_under_a_name_not_in_utf8_is_done_and_audited(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase
) -> None:
    """A Latin-1 file name (a surrogate-escaped str on Linux) was written, then failed its
    audit entry: the work done, no entry, and an error reported."""
    copy = tmp_path / os.fsdecode(b"saved-\xe9t\xe9.db")
    backup(store, copy, operator="admin")
    assert copy.exists()
    assert store.audit.entries()[-1].subject == "saved-\\xe9t\\xe9.db"
    store.close()
    assert restore(copy, db_path, passphrase, operator="a", force=True, config=FAST).replaced
    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert restored.audit.entries()[-1].subject == "saved-\\xe9t\\xe9.db"
        assert restored.audit.verify().ok
    odd_store = tmp_path / os.fsdecode(b"st\xf8re.db")
    with Store.create(odd_store, passphrase, config=FAST) as created:
        assert created.audit.entries()[0].subject == "st\\xf8re.db"


def test_restore_with_a_wrong_passphrase_touches_nothing(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    backup(store, tmp_path / "b.db", operator="admin")
    store.close()
    before = folder_state(db_path.parent)
    with pytest.raises(WrongKeyError):
        restore(tmp_path / "b.db", db_path, Passphrase("wrong"), operator="a", force=True)
    assert folder_state(db_path.parent) == before


def _erasures_kept(store: Store) -> list[tuple[str, str]]:
    rows = store.database.query(
        "SELECT entity_uid, state FROM outbox WHERE operation = 'tombstone' ORDER BY sequence"
    )
    return [(str(row[0]), str(row[1])) for row in rows]


def test_a_restore_does_not_bring_back_a_person_erased_after_the_backup(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    erased_uid, kept_uid = enrol(store, clock, "GONE", seed=1), enrol(store, clock, "KEPT", seed=2)
    backup(store, tmp_path / "b.db", operator="admin")
    store.people.erase(erased_uid, operator="dpo", reason="subject request")
    tombstone_key = store.outbox.entries()[-1].idempotency_key
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)
    with Store.open(db_path, passphrase, config=FAST) as restored:
        with pytest.raises(RecordNotFoundError):
            restored.people.get(erased_uid)
        assert restored.people.get(kept_uid).external_id == "KEPT"
        assert len(restored.gallery(MODEL)) == 1
        # The same tombstone, under the same key: the hub applies it once however often it comes.
        assert restored.outbox.get(tombstone_key).entity_uid == erased_uid
        assert [e.entity_uid for e in restored.outbox.queued()].count(erased_uid) == 1
        actions = [(e.action, e.subject) for e in restored.audit.entries()]
        assert ("person.erased", erased_uid) in actions
        assert actions[-1][0] == "store.restored"
        assert '"erasures_carried":1' in restored.audit.entries()[-1].details_json
        assert restored.audit.verify().ok


def test_a_restore_keeps_the_unpushed_erasure_of_someone_enrolled_after_the_backup(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    backup(store, tmp_path / "b.db", operator="admin")
    late_uid = enrol(store, clock, "LATE", seed=3)
    store.outbox.mark_sent([e.idempotency_key for e in store.outbox.queued()])
    store.outbox.mark_acknowledged([e.idempotency_key for e in store.outbox.entries()])
    store.people.erase(late_uid, operator="dpo", reason="subject request")  # not yet pushed
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)
    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert _erasures_kept(restored) == [(late_uid, "queued")]


def test_a_restore_keeps_an_acknowledged_tombstone_as_acknowledged(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    erased_uid = enrol(store, clock, "GONE", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    store.people.erase(erased_uid, operator="dpo", reason="subject request")
    store.outbox.mark_sent([e.idempotency_key for e in store.outbox.queued()])
    store.outbox.mark_acknowledged([e.idempotency_key for e in store.outbox.entries()])
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)
    with Store.open(db_path, passphrase, config=FAST) as restored:
        assert _erasures_kept(restored) == [(erased_uid, "acknowledged")]
        with pytest.raises(RecordNotFoundError):
            restored.people.get(erased_uid)


def test_a_restore_applies_erasures_pulled_from_the_hub_after_the_backup(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    erased_uid = enrol(store, clock, "GONE", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    tombstone = {"person_uid": erased_uid, "erased_at": "2026-03-02T10:00:00.000000Z"}
    change = Change(
        cursor=7,
        entity="person",
        entity_uid=UUID(erased_uid),
        operation="tombstone",
        payload={**tombstone, "reason": "erased at another gate"},
        changed_at=clock.now(),
    )
    assert apply_page(store, "north-gate", [change], 7).erased == 1
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)
    with Store.open(db_path, passphrase, config=FAST) as restored:
        with pytest.raises(RecordNotFoundError):
            restored.people.get(erased_uid)
        assert _erasures_kept(restored) == []  # the hub knows: nothing to push
        assert restored.people.count() == 0


def test_a_restore_over_a_store_it_cannot_read_refuses_unless_told(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    enrol(store, clock, "B-1", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    store.change_key(Passphrase("rotated after the backup"), operator="admin")
    store.close()
    before = folder_state(db_path.parent)
    with pytest.raises(ReplacedStoreUnreadableError, match="--no-carry-erasures"):
        restore(tmp_path / "b.db", db_path, passphrase, operator="a", force=True, config=FAST)
    assert folder_state(db_path.parent) == before
    restored = restore(
        tmp_path / "b.db",
        db_path,
        passphrase,
        operator="a",
        force=True,
        carry_erasures=False,
        config=FAST,
    )
    assert restored.replaced and restored.erasures_carried is None
    with Store.open(db_path, passphrase, config=FAST) as opened:
        assert opened.people.count() == 1
        assert '"erasures_carried":null' in opened.audit.entries()[-1].details_json


def test_a_restore_leaves_a_tombstone_in_flight_at_the_backup_able_to_travel(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    erased_uid = enrol(store, clock, "GONE", seed=1)
    store.people.erase(erased_uid, operator="dpo", reason="subject request")
    store.outbox.mark_sent([e.idempotency_key for e in store.outbox.queued()])  # push in flight
    tombstone = store.outbox.tombstones()[0]
    backup(store, tmp_path / "b.db", operator="admin")
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True, config=FAST)
    with Store.open(db_path, passphrase, config=FAST) as restored:
        kept = restored.outbox.get(tombstone.idempotency_key)
        assert kept.payload() == tombstone.payload()  # not blanked: the hub must still get it
        assert len(restored.outbox.tombstones()) == 1


def test_a_restore_keeps_its_replaced_store_aside_under_a_name_no_earlier_one_used(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A restore killed in the same second (or under a clock set back) left its replaced
    store under the name this one would take: it must not be overwritten while this one
    runs. Both are gone once this restore is done."""
    enrol(store, clock, "ORIGINAL", seed=1)
    with Store.create(tmp_path / "other.db", passphrase, clock=clock, config=FAST) as other:
        backup(other, tmp_path / "b.db", operator="admin")  # holds nobody
    store.close()
    left = db_path.with_name(f"{db_path.name}.replaced-{clock.now():%Y%m%dT%H%M%SZ}")
    for suffix in ("", store_keys.HEADER_SUFFIX):
        os.link(db_path.with_name(db_path.name + suffix), left.with_name(left.name + suffix))
    restore(tmp_path / "b.db", db_path, passphrase, operator="a", force=True,
            discard_unsynced=True, clock=clock, config=FAST)  # fmt: skip
    with Store.open(db_path, passphrase, config=FAST) as restored:
        details = restored.audit.entries()[-1].details_json
        assert restored.people.count() == 0
    assert f'"replaced":"{left.name}-2"' in details
    assert not list(db_path.parent.glob("*.replaced-*"))


def test_a_restore_cut_short_before_its_swap_leaves_the_old_store_working(
    store: Store,
    db_path: Path,
    passphrase: Passphrase,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy = db_path.parent / "b.db"
    backup(store, copy, operator="admin")
    late = enrol(store, clock, "LATE", seed=3)
    store.close()
    real_write = store_keys.write_header

    def power_cut_at_the_targets_header(path: Path, header: store_keys.KeyHeader) -> None:
        if path == db_path:
            raise SystemExit("power cut")
        real_write(path, header)

    monkeypatch.setattr(store_keys, "write_header", power_cut_at_the_targets_header)
    with pytest.raises(SystemExit):
        restore(copy, db_path, passphrase, operator="a", force=True, discard_unsynced=True,
                config=FAST)  # fmt: skip
    monkeypatch.undo()
    with Store.open(db_path, passphrase, config=FAST) as still:
        assert still.people.get(late).external_id == "LATE"
        assert still.integrity().ok
    assert not list(db_path.parent.glob("*.restoring*"))


def test_a_restore_onto_a_full_disk_is_a_clear_error_and_leaves_no_copy(
    store: Store, tmp_path: Path, passphrase: Passphrase, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup(store, tmp_path / "b.db", operator="admin")

    def full(source: BinaryIO, destination: BinaryIO) -> None:
        destination.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("shutil.copyfileobj", full)
    target = tmp_path / "device" / "jaga.db"
    with pytest.raises(StoreFullError, match="no space left"):
        restore(tmp_path / "b.db", target, passphrase, operator="a", config=FAST)
    assert sorted(p.name for p in target.parent.iterdir()) == ["jaga.db.in-use"]  # empty


def test_a_backup_that_reaches_a_file_size_limit_is_a_clear_error_and_leaves_nothing(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    """A FAT32 stick's 4 GiB limit, scaled down: RLIMIT_FSIZE (Python ignores SIGXFSZ, so
    the write fails with EFBIG as it would there)."""
    photo = Photo(os.urandom(3_000_000), "image/jpeg", clock.now())
    observation = FishObservation(clock.now(), (), needs_review=True, officer="o")
    store.observations.add_with_photo(photo, [observation])
    store.database.checkpoint()
    destination = tmp_path / "stick" / "jaga-backup.db"
    destination.parent.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        with pytest.raises(StoreFullError):
            backup(store, destination, operator="admin")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(destination.parent.iterdir()) == []


def test_a_restore_after_a_key_change_reads_the_replaced_store_with_its_own_key(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    erased = enrol(store, clock, "GONE", seed=1)
    backup(store, tmp_path / "b.db", operator="admin")
    store.people.erase(erased, operator="dpo", reason="subject request")
    rotated = Passphrase("rotated after the backup")
    store.change_key(rotated, operator="admin")
    store.close()
    restore(tmp_path / "b.db", db_path, passphrase, operator="admin", force=True,
            replaced_source=rotated, config=FAST)  # fmt: skip
    with Store.open(db_path, passphrase, config=FAST) as restored:  # the backup's key
        assert restored.people.count() == 0


CRASH_AT_THE_RENAME = """
import os, sys
from pathlib import Path
from sync.store import Passphrase, StoreConfig, restore
db, copy = Path(sys.argv[1]), Path(sys.argv[2])
real_replace = Path.replace
def power_cut(self, destination):
    if Path(destination) == db:
        os._exit(3)  # no finally, no except: as a power cut
    return real_replace(self, destination)
Path.replace = power_cut
restore(copy, db, Passphrase("backup key"), operator="a", force=True,
        replaced_source=Passphrase("key since"), config=StoreConfig(scrypt_n=2**10))
"""


def test_a_restore_killed_at_its_rename_leaves_a_store_its_own_key_opens(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The key changed since the backup: killed between the header and the rename, the old
    file sits under the restored copy's header, unless that header offers both keys."""
    db, copy = tmp_path / "jaga.db", tmp_path / "b.db"
    with Store.create(db, Passphrase("backup key"), clock=clock, config=FAST) as store:
        late = enrol(store, clock, "LATE", seed=1)
        backup(store, copy, operator="admin")
        store.change_key(Passphrase("key since"), operator="admin")
    killed = subprocess.run(
        [sys.executable, "-c", CRASH_AT_THE_RENAME, str(db), str(copy)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode == 3, killed.stderr
    with Store.open(db, Passphrase("key since"), config=FAST) as still:
        assert still.people.get(late).external_id == "LATE"


def test_a_backup_into_a_shared_folder_never_writes_through_a_planted_link(
    store: Store, tmp_path: Path
) -> None:
    """Another user of a world-writable folder (a USB stick, /tmp) plants a link where the
    backup writes its key header first: the operator's file it points at stays as it was."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o1777)
    victim = tmp_path / "victim.conf"
    victim.write_text("the operator's own file\n")
    destination = shared / "backup.db"
    planted = temporary_beside(store_keys.header_path(destination))
    planted.symlink_to(victim)
    backup(store, destination, operator="admin")
    assert victim.read_text() == "the operator's own file\n"
    header = store_keys.header_path(destination)
    assert header.is_file() and not header.is_symlink()
    assert store_keys.read_header(destination).current == store.header.current


def test_a_backup_of_a_damaged_store_names_the_store_not_its_copy(
    store: Store, db_path: Path, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    for number in range(20):
        enrol(store, clock, f"B-{number}", seed=number)
    store.close()
    with db_path.open("r+b") as handle:  # one flipped byte: that page fails its HMAC
        handle.seek(4096 * 5 + 100)
        byte = handle.read(1)
        handle.seek(4096 * 5 + 100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    destination = tmp_path / "copy.db"
    with (
        Store.open(db_path, passphrase, config=FAST) as damaged,
        pytest.raises(StoreCorruptError) as raised,
    ):
        backup(damaged, destination, operator="admin")
    assert str(db_path) in str(raised.value)
    assert ".partial" not in str(raised.value)
    assert not destination.exists()
    assert list(tmp_path.glob("copy.db*")) == []
