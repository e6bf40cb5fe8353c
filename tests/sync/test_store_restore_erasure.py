"""A restore over a store keeps no copy of the store it replaced that an erasure never reaches:
it deletes it once the restored store is in place, and the copy a restore killed before then
left is named by ``jaga store info`` and deleted by ``jaga store erase`` and ``purge-expired``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sync.client.state import registration_values, save_registration
from sync.errors import ReplacedStoreUnsyncedError
from sync.store import (
    FishObservation,
    Passphrase,
    Photo,
    SpeciesScore,
    Store,
    backup,
    restore,
)
from sync.store import keys as store_keys
from tests.sync.client.fakehub import FakeHub, registration
from tests.sync.client.units import client_of, observations
from tests.sync.conftest import FAST, REPO_ROOT, FakeClock, enrol
from tests.sync.pages import pages_holding
from tests.sync.test_store_cli import PASSPHRASE, add_person, cli_store, jaga

__all__ = ["cli_store"]  # the fixture, used by name

MARK = b"FACE-PHOTO-OF-ERASED-PERSON "


def stores_in(folder: Path) -> list[Path]:
    """Every store in ``folder``: each file with a key header beside it."""
    return sorted(p for p in folder.iterdir() if store_keys.header_path(p).is_file())


def replaced_copies(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".replaced-" in p.name)


def test_after_a_restore_over_a_store_an_erasure_leaves_the_person_in_no_file_of_its_folder(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """Ops restores last night's backup over the kiosk's store; then the person asks to be
    erased. The store it replaced must not stay beside it, with the same key, holding them."""
    db = tmp_path / "store" / "jaga.db"
    with Store.create(db, passphrase, clock=clock, config=FAST) as store:
        photo = Photo(MARK * 40, "image/jpeg", clock.now())
        uid = enrol(store, clock, "B-1", seed=1, photos=[photo])
        backup(store, tmp_path / "nightly.db", operator="ops")
        key = store.key
    restore(tmp_path / "nightly.db", db, passphrase, operator="ops", force=True,
            clock=clock, config=FAST)  # fmt: skip
    with Store.open(db, passphrase, clock=clock, config=FAST) as store:
        assert store.people.erase(uid, operator="dpo", reason="subject request")
    for path in stores_in(db.parent):  # the store itself, and any other copy
        with Store.open(path, passphrase, config=FAST) as opened:
            assert opened.people.listing() == [], path.name
        assert pages_holding(key, path, MARK) == (0, 0), path.name
    assert replaced_copies(db.parent) == []
    for path in db.parent.iterdir():
        assert b"Person B-1" not in path.read_bytes(), path.name


KILLED_BEFORE_THE_REPLACED_STORE_IS_DELETED = """
import os, sys
from pathlib import Path
from sync.store import Passphrase, StoreConfig, restore
db, copy = Path(sys.argv[1]), Path(sys.argv[2])
real_unlink = Path.unlink
def power_cut(self, missing_ok=False):
    if ".replaced-" in self.name:
        os._exit(3)  # no finally, no except: as a power cut
    return real_unlink(self, missing_ok=missing_ok)
Path.unlink = power_cut
restore(copy, db, Passphrase(sys.argv[3]), operator="ops", force=True,
        config=StoreConfig(scrypt_n=2**10))
"""


def killed_restore(db: Path, copy: Path) -> None:
    """A restore over ``db`` killed once it put the backup in place, before it deleted the
    store it replaced."""
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_THE_REPLACED_STORE_IS_DELETED, str(db), str(copy),
         PASSPHRASE],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert killed.returncode in (0, 3), killed.stderr  # 0: a restore that deletes nothing
    assert replaced_copies(db.parent)  # what the kill left


def night_backup(tmp_path: Path) -> Path:
    """A backup, kept apart from the store (``jaga store erase`` does not reach backups)."""
    nightly = tmp_path / "backups" / "nightly.db"
    nightly.parent.mkdir()
    assert jaga("store", "backup", str(nightly)) == 0
    return nightly


def test_a_replaced_store_a_killed_restore_left_is_named_by_info_and_deleted_by_erase(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uid = add_person(cli_store)
    nightly = night_backup(tmp_path)
    killed_restore(cli_store, nightly)
    capsys.readouterr()
    assert jaga("store", "info") == 0
    info = capsys.readouterr().out
    assert "leftover" in info and ".replaced-" in info, info
    assert "jaga store erase" in info
    assert jaga("store", "erase", "CLI-1", "--reason", "subject request") == 0
    out = capsys.readouterr().out
    assert f"erased CLI-1 ({uid})" in out and "deleted" in out and ".replaced-" in out, out
    assert replaced_copies(cli_store.parent) == []
    assert stores_in(cli_store.parent) == [cli_store]
    assert jaga("store", "info") == 0
    assert "leftover" not in capsys.readouterr().out


def test_purge_expired_deletes_a_replaced_store_a_killed_restore_left(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(cli_store, expired=True)
    nightly = night_backup(tmp_path)
    killed_restore(cli_store, nightly)
    capsys.readouterr()
    assert jaga("store", "purge-expired", "--dry-run") == 0  # a dry run changes nothing
    assert replaced_copies(cli_store.parent)
    assert jaga("store", "purge-expired") == 0
    assert ".replaced-" in capsys.readouterr().out
    assert replaced_copies(cli_store.parent) == []
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0


def test_a_restore_refuses_to_lose_records_the_replaced_store_never_synced(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A boat's store holds a catch recorded after last night's backup, not yet pushed: it
    exists nowhere else. Restoring the backup over it refuses, naming what would be lost, and
    changes nothing; what the backup holds too (queued before it) is not counted."""
    db = tmp_path / "store" / "jaga.db"
    with Store.create(db, passphrase, clock=clock, config=FAST) as store:
        enrol(store, clock, "B-1", seed=1)  # queued before the backup: the backup holds it
        backup(store, tmp_path / "nightly.db", operator="ops")
        (uid,) = observations(store, 1, "after the backup")
        other = enrol(store, clock, "B-2", seed=2)
        store.people.erase(other, operator="dpo", reason="subject request")  # carried over
    with pytest.raises(ReplacedStoreUnsyncedError, match="1 fish_observation") as refused:
        restore(tmp_path / "nightly.db", db, passphrase, operator="ops", force=True,
                clock=clock, config=FAST)  # fmt: skip
    assert "--discard-unsynced" in str(refused.value)
    assert "person" not in str(refused.value)  # the enrolment: in the backup too
    made = [p.name for p in db.parent.iterdir() if ".restoring" in p.name]
    assert made == [] and replaced_copies(db.parent) == []  # no copy left, nothing aside
    with Store.open(db, passphrase, clock=clock, config=FAST) as store:
        held = store.database.query(
            "SELECT count(*) FROM fish_observations WHERE observation_uid = ?", (uid,)
        )
        assert held == [(1,)]


def _photographed_catch(store: Store, seed: int) -> str:
    photo = Photo(random.Random(seed).randbytes(3000), "image/jpeg", store.clock.now())
    store.observations.add(
        FishObservation(
            observed_at=store.clock.now(), predictions=(SpeciesScore("Gadus morhua", 0.4),),
            needs_review=True, officer="officer-7",
        ),
        photo,
    )  # fmt: skip
    return photo.photo_uid


def test_a_restore_refuses_to_lose_photo_bytes_the_hub_never_received(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """Two catches photographed after the backup, both pushed and acknowledged; the bytes of
    one are uploaded, the other's are not yet (the link dropped, or the per-sync upload
    limit). Those bytes exist nowhere else: the restore refuses, naming them, and with
    --discard-unsynced counts them as discarded. Uploaded bytes are not counted."""
    db = tmp_path / "store" / "jaga.db"
    hub = FakeHub()
    with Store.create(db, passphrase, clock=clock, config=FAST) as store:
        backup(store, tmp_path / "nightly.db", operator="ops")
        _photographed_catch(store, 1)
        client = client_of(store, hub)
        client.push()
        assert client.upload_photos().completed == 1
        kept = _photographed_catch(store, 2)
        client.push()  # its metadata acknowledged, its bytes not uploaded
    with pytest.raises(ReplacedStoreUnsyncedError, match="1 photo bytes") as refused:
        restore(tmp_path / "nightly.db", db, passphrase, operator="ops", force=True,
                clock=clock, config=FAST)  # fmt: skip
    assert "--discard-unsynced" in str(refused.value)
    with Store.open(db, passphrase, clock=clock, config=FAST) as store:
        held = store.database.query("SELECT count(*) FROM photos WHERE photo_uid = ?", (kept,))
        assert held == [(1,)]
    restored = restore(tmp_path / "nightly.db", db, passphrase, operator="ops", force=True,
                       discard_unsynced=True, clock=clock, config=FAST)  # fmt: skip
    assert restored.unsynced_discarded == 1


def test_a_restore_told_to_discard_unsynced_records_says_how_many_it_discarded(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    db = tmp_path / "store" / "jaga.db"
    with Store.create(db, passphrase, clock=clock, config=FAST) as store:
        backup(store, tmp_path / "nightly.db", operator="ops")
        observations(store, 2, "after the backup")
        erased = enrol(store, clock, "B-1", seed=1)
        store.people.erase(erased, operator="dpo", reason="subject request")
    restored = restore(tmp_path / "nightly.db", db, passphrase, operator="ops", force=True,
                       discard_unsynced=True, clock=clock, config=FAST)  # fmt: skip
    assert restored.unsynced_discarded == 2
    with Store.open(db, passphrase, clock=clock, config=FAST) as store:
        entry = [e for e in store.audit.entries() if e.action == "store.restored"][-1]
        assert json.loads(entry.details_json)["unsynced_discarded"] == 2
        assert store.observations.count() == 0
        assert [t.entity_uid for t in store.outbox.tombstones()] == [erased]  # still carried


def test_cli_restore_names_unsynced_records_and_discards_them_only_when_told(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly = night_backup(tmp_path)
    add_person(cli_store)  # an enrolment, its templates and an access event, all unsynced
    capsys.readouterr()
    assert jaga("store", "restore", str(nightly), "--force") == 1
    err = capsys.readouterr().err
    assert "1 access_event" in err and "1 person" in err and "--discard-unsynced" in err, err
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 1
    assert jaga("store", "restore", str(nightly), "--force", "--discard-unsynced") == 0
    out = capsys.readouterr().out
    assert "discarded 3 changes the hub never acknowledged" in out, out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert store.people.count() == 0


def test_cli_restore_of_a_backup_made_before_registering_says_the_store_stays_registered(
    cli_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The registration's rows, as ``jaga sync register`` leaves them, survive the restore
    of a backup that has none, and the restore says so."""
    nightly = night_backup(tmp_path)
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        save_registration(store.database, registration(), store.clock.now(), send_face_images=True)
        registered = registration_values(store.database)
    capsys.readouterr()
    assert jaga("store", "restore", str(nightly), "--force") == 0
    out = capsys.readouterr().out
    assert "stays registered with the hub as this device (device " in out, out
    with Store.open(cli_store, Passphrase(PASSPHRASE), config=FAST) as store:
        assert registration_values(store.database) == registered
