"""The note of access decisions to queue again for a hub restored from a backup
(``sync.store.resend.decisions_name``) belongs to that hub: registered with another hub, whose
site of the same slug is another site, the device forgets it, or its next sync would send
the old hub's decisions to the new one. Moved to another site of the same hub, it is kept,
for a device registered back to that site."""

from __future__ import annotations

from dataclasses import replace

from sync.client.site_records import queue_noted_decisions, unsent_by_site
from sync.client.state import read_values, save_registration
from sync.store import AccessEvent, Store
from sync.store.resend import decisions_name, queue_again, queue_decisions_again
from tests.sync.client.fakehub import SITE, registration
from tests.sync.conftest import FakeClock, enrol


def _decisions_noted_for_a_restored_hub(store: Store, clock: FakeClock) -> None:
    """Registered at ``SITE``, one decision the hub acknowledged, then the hub restored: its
    renewal noted the decision to queue again (a sync killed before it queued them)."""
    save_registration(store.database, registration(), clock.now(), send_face_images=False)
    person = enrol(store, clock, "A-1", seed=1)
    store.access.record(AccessEvent(clock.now(), SITE, "kiosk-1", "verified", person, 0.9, 0.97))
    keys = [entry.idempotency_key for entry in store.outbox.queued(limit=1000)]
    store.outbox.mark_sent(keys)
    store.outbox.mark_acknowledged(keys)
    store.outbox.forget_acknowledged()
    with store.database.write() as connection:
        queue_again(connection, store.outbox, store.clock, SITE)
    assert decisions_name(SITE) in read_values(store.database)


def test_registered_with_another_hub_the_old_hubs_decisions_are_not_queued(
    store: Store, clock: FakeClock
) -> None:
    _decisions_noted_for_a_restored_hub(store, clock)
    other = replace(registration(), hub_url="https://another-hub.example")

    save_registration(store.database, other, clock.now(), send_face_images=False)

    assert decisions_name(SITE) not in read_values(store.database)
    assert queue_decisions_again(store, SITE) == 0  # what the next sync runs first
    assert not [e for e in store.outbox.queued(limit=1000) if e.entity == "access_event"]


def test_moved_to_another_site_of_the_same_hub_the_note_waits_for_that_site(
    store: Store, clock: FakeClock
) -> None:
    _decisions_noted_for_a_restored_hub(store, clock)
    elsewhere = replace(registration(), site="south-gate")

    save_registration(store.database, elsewhere, clock.now(), send_face_images=False)
    save_registration(store.database, registration(), clock.now(), send_face_images=False)

    assert queue_decisions_again(store, SITE) == 1


def test_a_note_left_for_another_site_counts_as_records_still_to_push(
    store: Store, clock: FakeClock
) -> None:
    """The register check (``unsent_by_site``) sees the decisions a note of the site left
    names, so a code of a third site is refused for them, not taken in silence."""
    _decisions_noted_for_a_restored_hub(store, clock)
    elsewhere = replace(registration(), site="south-gate")
    save_registration(store.database, elsewhere, clock.now(), send_face_images=False)

    unsent = {records.site: dict(records.counts) for records in unsent_by_site(store.database)}

    assert unsent[SITE]["access_event"] == 1


def test_the_register_command_queues_the_note_only_for_its_own_hub(
    store: Store, clock: FakeClock
) -> None:
    """``jaga sync register`` queues the note before it registers; for another hub that
    would have made the old hub's decisions records the next sync pushes to the new one."""
    _decisions_noted_for_a_restored_hub(store, clock)
    other = replace(registration(), hub_url="https://another-hub.example")

    assert queue_noted_decisions(store, other.hub_url, None) == 0
    unsent = {records.site: dict(records.counts) for records in unsent_by_site(store.database)}
    assert unsent[SITE]["access_event"] == 1  # the note, counted only with ``noted``
    unsent = {
        records.site: dict(records.counts)
        for records in unsent_by_site(store.database, noted=False)
    }
    assert "access_event" not in unsent.get(SITE, {})
    save_registration(store.database, other, clock.now(), send_face_images=False)

    assert not [e for e in store.outbox.queued(limit=1000) if e.entity == "access_event"]


def test_the_register_command_queues_the_note_for_the_same_hub(
    store: Store, clock: FakeClock
) -> None:
    _decisions_noted_for_a_restored_hub(store, clock)

    assert queue_noted_decisions(store, registration().hub_url, None) == 1
