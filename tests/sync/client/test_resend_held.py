"""Queuing again for a restored hub (``sync.store.resend.queue_again``) after a move to another
hub whose site has the same slug: what the device holds of the old hub (a person and a
decision held for it, a decision it acknowledged, a photo whose bytes wait for it) is the old
hub's, and goes to the restored new hub no more than a push would send it; the new hub's own
records go again. A record held for the old hub is skipped as the old hub's, not as one
already queued for the new one: no push takes it (``sync.store.outbox_hub``)."""

from __future__ import annotations

from dataclasses import replace

from sync.client.state import save_registration
from sync.store import AccessEvent, Store
from sync.store.outbox_hub import held_for_other_hubs
from sync.store.resend import queue_again, queue_decisions_again
from tests.sync.client.devices import add_photo_observation
from tests.sync.client.fakehub import SITE, registration
from tests.sync.conftest import FakeClock, enrol


def _acknowledge_queued(store: Store) -> None:
    keys = [entry.idempotency_key for entry in store.outbox.queued(limit=1000)]
    store.outbox.mark_sent(keys)
    store.outbox.mark_acknowledged(keys)
    store.outbox.forget_acknowledged()


def _decide(store: Store, clock: FakeClock, person: str) -> str:
    event = AccessEvent(clock.now(), SITE, "kiosk-1", "verified", person, 0.9, 0.97)
    store.access.record(event)
    return event.event_uid


def _held(store: Store) -> int:
    with store.database.read() as connection:
        return held_for_other_hubs(connection)


def test_a_restored_new_hub_gets_its_own_records_and_none_of_the_old_hubs(
    store: Store, clock: FakeClock
) -> None:
    """Before: the decision the old hub acknowledged, and the catch photo whose bytes wait
    for it, were queued for the restored new hub."""
    save_registration(store.database, registration(), clock.now(), send_face_images=False)
    sent_a = _decide(store, clock, enrol(store, clock, "A-1", seed=1))
    photo = add_photo_observation(store, 1024, seed=4, tag="old hub")
    _acknowledge_queued(store)  # the old hub took A-1, a decision, a catch and its photo's metadata
    held_person = enrol(store, clock, "A-2", seed=2)
    held_decision = _decide(store, clock, held_person)
    moved = replace(registration(), hub_url="https://another-hub.example")
    save_registration(store.database, moved, clock.now(), send_face_images=False)
    own_person = enrol(store, clock, "B-1", seed=3)
    own_decision = _decide(store, clock, own_person)
    _acknowledge_queued(store)  # the new hub took B-1 and its decision, then was restored

    with store.database.write() as connection:
        queue_again(connection, store.outbox, store.clock, SITE)
    queue_decisions_again(store, SITE)

    queued = {entry.entity_uid for entry in store.outbox.queued(limit=1000)}
    assert {own_person, own_decision} <= queued
    assert held_person not in queued, "a person held for the old hub"
    assert held_decision not in queued, "a decision held for the old hub"
    assert sent_a not in queued, "a decision the old hub acknowledged"
    assert photo not in queued, "a photo whose bytes wait for the old hub"
    assert _held(store) == 3  # A-2, their template and decision: still the old hub's
