"""An entry made after a registration with another hub, about a record whose entries are held
for the old hub (``sync.store.outbox_hub``), is that hub's too: an erasure of a person kept with
``--strand-records``, the review of a catch recorded there. Sent to the new hub, it would name
a person or catch that hub never had (another organisation's), and never reach the old hub,
which would keep the person for good. Found by review (erasure sent to the new hub)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.client.state import save_registration
from sync.store import Passphrase, Store, backup, restore
from sync.store.hub_keys import hub_key
from sync.store.outbox_hub import held_for_other_hubs
from sync.store.records import OutboxState
from tests.sync.client.devices import add_access_events, add_observations, enrol
from tests.sync.conftest import FAST, FakeClock
from tests.sync.test_store_outbox import acknowledge_all

HUB_A = "https://hub-a.example"
HUB_B = "https://hub-b.example"
SITE = "north-gate"  # the same slug at both hubs: another site all the same


def registered_with(store: Store, hub_url: str) -> None:
    registration = Registration(hub_url, SITE, uuid4(), f"token-{hub_url}")
    save_registration(store.database, registration, store.clock.now(), send_face_images=False)


def moved_to_b(store: Store) -> None:
    """``jaga sync register --strand-records`` with hub B's code: A's entries are held."""
    registration = Registration(HUB_B, SITE, uuid4(), "token-b")
    register_moving(store, registration, store.clock.now(), send_face_images=False, operator="ops")


def _held_for(store: Store, operation: str) -> list[str | None]:
    rows = store.database.query(
        "SELECT for_hub FROM outbox WHERE operation = ? ORDER BY sequence", (operation,)
    )
    return [row[0] for row in rows]


def test_an_erasure_of_a_person_held_for_the_old_hub_goes_to_that_hub_only(store: Store) -> None:
    registered_with(store, HUB_A)
    uid = enrol(store, SITE, "OLD-1", seed=3)
    add_access_events(store, SITE, 1)
    moved_to_b(store)

    assert store.people.erase(uid, operator="ops", reason="asked")

    assert _held_for(store, "tombstone") == [hub_key(HUB_A)]
    assert store.outbox.queued() == []  # nothing of A's person for hub B
    registered_with(store, HUB_A)
    assert [(e.entity_uid, e.operation) for e in store.outbox.queued() if e.entity == "person"] == [
        (uid, "tombstone")
    ]


def test_an_erasure_is_held_though_it_drops_every_held_entry_of_the_person(store: Store) -> None:
    """The person's own entries (person, face template) are dropped by the erasure: the hub
    they were held for is read before."""
    registered_with(store, HUB_A)
    uid = enrol(store, SITE, "OLD-1", seed=3)
    moved_to_b(store)

    assert store.people.erase(uid, operator="ops", reason="asked")

    assert _held_for(store, "tombstone") == [hub_key(HUB_A)]
    assert store.outbox.queued() == []


def test_an_erasure_of_a_person_of_the_new_hub_goes_to_it(store: Store) -> None:
    registered_with(store, HUB_A)
    enrol(store, SITE, "OLD-1", seed=3)
    moved_to_b(store)
    uid = enrol(store, SITE, "NEW-1", seed=4)

    assert store.people.erase(uid, operator="ops", reason="asked")

    assert [(e.entity_uid, e.operation) for e in store.outbox.queued()] == [(uid, "tombstone")]


def test_the_review_of_a_catch_held_for_the_old_hub_is_held_for_it(store: Store) -> None:
    registered_with(store, HUB_A)
    (catch,) = add_observations(store, 1, "old")
    moved_to_b(store)

    store.observations.confirm(catch, "Gadus morhua", officer="officer-7")

    assert _held_for(store, "upsert") == [hub_key(HUB_A)] * 2
    assert store.outbox.queued() == []


def test_an_erasure_carried_over_a_restore_stays_held_for_the_old_hub(
    store: Store, tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    """A backup taken after the move holds the person, held for A; the erasure made since is
    carried into it (``sync.store.erasures``), held for A as it was."""
    registered_with(store, HUB_A)
    uid = enrol(store, SITE, "OLD-1", seed=3)
    moved_to_b(store)
    backup(store, tmp_path / "nightly.db", operator="ops")
    assert store.people.erase(uid, operator="ops", reason="asked")
    store.close()

    restore(tmp_path / "nightly.db", store.path, passphrase, operator="ops", force=True,
            clock=clock, config=FAST)  # fmt: skip

    with Store.open(store.path, passphrase, clock=clock, config=FAST) as restored:
        assert _held_for(restored, "tombstone") == [hub_key(HUB_A)]
        assert restored.outbox.queued() == []


def test_the_review_of_a_catch_the_old_hub_acknowledged_is_held_for_it(store: Store) -> None:
    """Found by review: only unsent entries were held at the move, so a catch hub A had
    acknowledged held nothing, and its review went to hub B, which never had the catch (it
    would make it in its own site), while A never heard of the review."""
    registered_with(store, HUB_A)
    (catch,) = add_observations(store, 1, "old")
    acknowledge_all(store)
    moved_to_b(store)

    store.observations.confirm(catch, "Gadus morhua", officer="officer-7")

    assert store.outbox.queued() == []
    registered_with(store, HUB_A)
    assert [e.entity_uid for e in store.outbox.queued()] == [catch]


def test_acknowledged_entries_held_at_a_move_count_as_kept_not_as_held(store: Store) -> None:
    """What the old hub acknowledged is not waiting for it: counted as acknowledged and
    kept, never among the entries held for another hub, whose count is shown to users."""
    registered_with(store, HUB_A)
    add_observations(store, 2, "old")
    acknowledge_all(store)
    kept = store.outbox.counts()[OutboxState.ACKNOWLEDGED]
    moved_to_b(store)

    assert kept == 2
    assert store.outbox.counts()[OutboxState.ACKNOWLEDGED] == kept
    with store.database.read() as connection:
        assert held_for_other_hubs(connection) == 0
