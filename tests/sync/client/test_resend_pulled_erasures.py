"""A restored hub's renewal queues again a tombstone for each person a pulled erasure removed
here (``sync.store.resend``), which the hub may have lost: only those pulled since the
device's registration. One pulled before it was the old hub's: at a move to another hub (its
site of the same slug another organisation's), it would hand the new hub the uid of a person
it never had, with the reason the old hub gave. Found by review (the renewal's other
records: ``test_resend_held``)."""

from __future__ import annotations

from uuid import uuid4

from sync.client.config import Registration
from sync.client.moved_site import register_moving
from sync.client.state import save_registration
from sync.store import Store
from sync.store.people import remove_person
from sync.store.resend import queue_again
from tests.sync.conftest import FakeClock, enrol

SITE = "north-gate"


def _register(store: Store, hub_url: str) -> Registration:
    return Registration(hub_url, SITE, uuid4(), f"token-{hub_url}")


def _erased_by_the_hub(store: Store, person_uid: str) -> None:
    """As a pulled tombstone is applied (``sync.client.apply``)."""
    with store.database.write() as connection:
        removed = remove_person(connection, store.outbox, person_uid)
        assert removed is not None
        store.audit.append(
            connection, actor="hub", action="person.erased", subject=person_uid,
            details=removed.details("asked at the front desk by J. Doe"),
        )  # fmt: skip


def _tombstones_queued_again(store: Store) -> list[str]:
    with store.database.write() as connection:
        queue_again(connection, store.outbox, store.clock, SITE)
    return [e.entity_uid for e in store.outbox.queued(1000) if e.operation == "tombstone"]


def test_a_new_hubs_renewal_sends_none_of_the_old_hubs_pulled_erasures(
    store: Store, clock: FakeClock
) -> None:
    save_registration(
        store.database, _register(store, "https://hub-a.example"), clock.now(),
        send_face_images=False,
    )  # fmt: skip
    _erased_by_the_hub(store, enrol(store, clock, "A-1", seed=1))
    clock.advance(minutes=5)
    moved = _register(store, "https://hub-b.example")
    register_moving(store, moved, clock.now(), send_face_images=False, operator="ops")
    clock.advance(minutes=5)
    own = enrol(store, clock, "B-1", seed=2)
    _erased_by_the_hub(store, own)

    assert _tombstones_queued_again(store) == [own]
