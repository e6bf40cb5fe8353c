"""A restore killed after it put the backup in place leaves the store it replaced beside the
store (``<store>.replaced-<time>``): everyone it held, under the same key. ``jaga store
erase`` and ``purge-expired`` delete it with their erasure. The erasures a sync makes must
too: the hub's tombstone (an erasure request made at the hub admin, the usual way one comes)
and the sync's own retention purge erased the person from the store and left them whole in
that copy, readable with the store's key."""

from __future__ import annotations

from pathlib import Path

from sync.store import Passphrase, Store
from sync.store.backups import backup
from tests.sync.client.fakehub import FakeHub
from tests.sync.client.units import client_of
from tests.sync.conftest import FAST, FakeClock, enrol
from tests.sync.hub import entries as e


def left_by_a_killed_restore(store: Store) -> Path:
    """A copy of the store, as a restore killed before deleting the store it replaced
    leaves it (the name ``sync.store.backup_files.replaced_stores`` looks for)."""
    copy = store.path.with_name(f"{store.path.name}.replaced-20261201T000000Z")
    backup(store, copy, operator="ops")
    return copy


def leftovers(store: Store) -> list[str]:
    return sorted(p.name for p in store.path.parent.iterdir() if ".replaced-" in p.name)


def holds(copy: Path, passphrase: Passphrase, person_uid: str) -> bool:
    with Store.open(copy, passphrase, config=FAST) as opened:
        return any(p.person_uid == person_uid for p, _ in opened.people.listing())


def test_a_tombstone_pulled_from_the_hub_deletes_the_copy_a_killed_restore_left(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        person = enrol(store, clock, "B-1", seed=1)
        copy = left_by_a_killed_restore(store)
        assert holds(copy, passphrase, person)
        hub = FakeHub()
        client = client_of(store, hub)
        client.push()
        hub.add_change("person", "tombstone", e.tombstone(person))
        assert client.pull().erased == 1
        assert leftovers(store) == []


def test_the_retention_purge_of_a_sync_deletes_the_copy_a_killed_restore_left(
    db_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    with Store.create(db_path, passphrase, clock=clock, config=FAST) as store:
        person = enrol(store, clock, "B-1", seed=1)
        copy = left_by_a_killed_restore(store)
        assert holds(copy, passphrase, person)
        clock.advance(days=400)  # past any consent's retention
        report = client_of(store, FakeHub()).sync_once()
        assert report.expired == (person,)
        assert leftovers(store) == []
