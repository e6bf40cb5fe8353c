"""What a device queues again for a hub restored from a backup (``sync.store.resend``): what
it sent and still holds, under the same keys where the outbox kept them, dated when made;
every person of its site it holds, pulled ones too; nothing still waiting in its outbox."""

from __future__ import annotations

import uuid

from sync.store import (
    AccessEvent,
    FishObservation,
    OutboxState,
    Photo,
    SpeciesScore,
    Store,
    Verdict,
)
from sync.store.clock import format_timestamp
from sync.store.resend import decisions_name, queue_again, queue_decisions_again
from sync.store.state_rows import put_value
from tests.sync.conftest import FakeClock, enrol

SITE = "north-gate"


def _acknowledge_all(store: Store) -> None:
    keys = [entry.idempotency_key for entry in store.outbox.queued(limit=1000)]
    store.outbox.mark_sent(keys)
    store.outbox.mark_acknowledged(keys)
    store.outbox.forget_acknowledged()  # the person, template and decision entries go


PULLED = str(uuid.uuid4())


def _pull_person(store: Store) -> None:
    """A person enrolled elsewhere, pulled from the hub: no audit entry of their enrolment."""
    with store.database.write() as connection:
        connection.execute(
            "INSERT INTO people (person_uid, external_id, display_name, site,"
            " consent_text_version, consent_given_at, consent_operator, retain_until,"
            " created_at) SELECT ?, 'P-1', 'Pulled', site, consent_text_version,"
            " consent_given_at, consent_operator, retain_until, created_at FROM people",
            (PULLED,),
        )


def test_it_queues_again_what_this_device_sent_and_the_people_it_holds(
    store: Store, clock: FakeClock
) -> None:
    photo = Photo(data=b"\xff\xd8 a face", media_type="image/jpeg", taken_at=clock.now())
    person = enrol(store, clock, "A-1", seed=1, photos=[photo])
    decision = store.access.record(
        AccessEvent(clock.now(), SITE, "kiosk-1", "verified", person, 0.91, 0.97)
    )
    catch = FishObservation(clock.now(), (SpeciesScore("Gadus morhua", 0.7),), True, "officer-7")
    store.observations.add(catch)
    kept = {e.entity_uid: e.idempotency_key for e in store.outbox.queued(limit=1000)}
    _acknowledge_all(store)
    _pull_person(store)
    clock.advance(days=30)

    with store.database.write() as connection:
        requeued = queue_again(connection, store.outbox, store.clock, SITE)
    assert queue_decisions_again(store, SITE) == 1

    queued = store.outbox.queued(limit=1000)
    assert (requeued.people, requeued.templates, requeued.access_events) == (2, 1, 1)
    assert requeued.kept == 2 and requeued.total == len(queued) == 6
    assert [e.entity for e in queued] == [
        "person", "face_template", "person", "photo", "fish_observation", "access_event",
    ]  # fmt: skip
    assert {e.entity_uid for e in queued} == {
        person, PULLED, decision.event_uid, photo.photo_uid, catch.observation_uid,
        *(e.entity_uid for e in queued if e.entity == "face_template"),
    }  # fmt: skip
    for entry in queued:
        assert entry.created_at < clock.now()  # dated when made, never as a new edit
        if entry.entity in ("photo", "fish_observation"):
            assert entry.idempotency_key == kept[entry.entity_uid]
    assert store.outbox.counts()[OutboxState.ACKNOWLEDGED] == 0
    assert format_timestamp(queued[5].created_at) == format_timestamp(decision.occurred_at)


def test_an_erasure_goes_again_before_the_person_given_the_badge_it_freed(
    store: Store, clock: FakeClock
) -> None:
    """The restored hub may hold the erased person alive with that badge: it would refuse
    the new one if their tombstone came after them. Their photos still go after them."""
    erased = enrol(store, clock, "A-1", seed=1)
    assert store.people.erase(erased, operator="officer-7", reason="asked to")
    photo = Photo(data=b"\xff\xd8 a face", media_type="image/jpeg", taken_at=clock.now())
    enrol(store, clock, "A-1", seed=2, photos=[photo])
    _acknowledge_all(store)

    with store.database.write() as connection:
        queue_again(connection, store.outbox, store.clock, SITE)

    queued = [(e.entity, e.operation) for e in store.outbox.queued(limit=1000)]
    assert queued == [
        ("person", "tombstone"), ("person", "upsert"), ("face_template", "upsert"),
        ("photo", "upsert"),
    ]  # fmt: skip
    assert store.outbox.queued(limit=1)[0].entity_uid == erased


def test_what_still_waits_in_the_outbox_is_not_queued_twice(store: Store, clock: FakeClock) -> None:
    """A decision still queued goes as it is; a person quarantined waits for the operator
    (queued again, it would be refused again): neither is queued again."""
    person = enrol(store, clock, "A-1", seed=1)
    quarantined = next(e for e in store.outbox.queued() if e.entity == "person")
    store.outbox.mark_sent([quarantined.idempotency_key])
    store.outbox.mark_rejected(quarantined.idempotency_key, "its badge is held")
    store.access.record(AccessEvent(clock.now(), SITE, "kiosk-1", "verified", person, 0.9, 0.97))
    before = store.outbox.counts()

    with store.database.write() as connection:
        requeued = queue_again(connection, store.outbox, store.clock, SITE)

    assert (requeued.people, requeued.access_events) == (0, 0)
    assert queue_decisions_again(store, SITE) == 0
    assert store.outbox.counts() == before


def test_decisions_are_queued_again_in_bounded_transactions_that_carry_on_after_a_kill(
    store: Store, clock: FakeClock
) -> None:
    """The renewal's transaction only notes the decisions; they are queued a batch per
    transaction, the note moved on with each, so a sync killed between two batches loses
    none and queues none twice when the next one carries on."""
    for _ in range(5):
        store.access.record(AccessEvent(clock.now(), SITE, "kiosk-1", "verified", None, 0.9, 0.97))
        clock.advance(seconds=1)
    _acknowledge_all(store)
    with store.database.write() as connection:
        assert queue_again(connection, store.outbox, store.clock, SITE).access_events == 5
    assert store.outbox.queued() == []  # noted, not queued yet
    ids = [row[0] for row in store.database.query("SELECT id FROM access_events ORDER BY id")]
    note = decisions_name(SITE)
    assert store.database.query("SELECT value FROM sync_state WHERE name = ?", (note,)) == [
        (f"0:{ids[-1]}",)
    ]
    with store.database.write() as connection:  # what a kill after the first batch leaves
        put_value(connection, note, f"0:{ids[1]}", clock.now())
    assert queue_decisions_again(store, SITE, batch=2) == 2
    with store.database.write() as connection:
        put_value(connection, note, f"{ids[1]}:{ids[-1]}", clock.now())

    assert queue_decisions_again(store, SITE, batch=2) == 3

    queued = store.outbox.queued(limit=100)
    assert len(queued) == len({e.entity_uid for e in queued}) == 5
    assert store.database.query("SELECT value FROM sync_state WHERE name = ?", (note,)) == []
    assert queue_decisions_again(store, SITE) == 0


def test_decisions_noted_for_a_restored_hub_are_not_deleted_by_retention_before_it_holds_them(
    store: Store, clock: FakeClock
) -> None:
    """Retention deletes a decision the hub has held for its window (``held_since``); the hub
    restored from a backup no longer holds it, so the renewal counts it held again only once
    the restored hub acknowledges it: noted but not queued yet, retention must leave it."""
    decision = store.access.record(
        AccessEvent(clock.now(), SITE, "kiosk-1", "not_matched", None, 0.2, 0.9)
    )
    keys = [entry.idempotency_key for entry in store.outbox.queued(limit=1000)]
    store.outbox.mark_sent(keys)
    store.outbox.settle(Verdict(acknowledged=tuple(keys)))  # stamps held_since
    clock.advance(days=400)  # long held by the hub before its restore
    with store.database.write() as connection:
        queue_again(connection, store.outbox, store.clock, SITE)  # noted, not queued yet

    store.retention.apply(None, force=True)

    kept = store.database.query("SELECT event_uid FROM access_events")
    assert [row[0] for row in kept] == [decision.event_uid]
    assert queue_decisions_again(store, SITE) == 1


def test_a_record_stored_before_a_rule_of_the_protocol_refused_it_is_quarantined_not_fatal(
    store: Store, clock: FakeClock
) -> None:
    """A person enrolled by an older release with a right-to-left override in the name
    (``sync.protocol.names`` refuses it since): queued again for a restored hub, it would
    refuse the whole transaction (``RecordInvalidError``), and so every sync's pull. It is
    quarantined with the reason, as the hub would, and the others go."""
    named = enrol(store, clock, "A-1", seed=1)
    plain = enrol(store, clock, "A-2", seed=2)
    with store.database.write() as connection:
        connection.execute(
            "UPDATE people SET display_name = ? WHERE person_uid = ?", ("Ana \u202eziuR", named)
        )
    _acknowledge_all(store)
    clock.advance(days=1)

    with store.database.write() as connection:
        requeued = queue_again(connection, store.outbox, store.clock, SITE)
    assert requeued.people == 2
    (quarantined,) = store.outbox.quarantined()
    assert (quarantined.entity, quarantined.entity_uid) == ("person", named)
    assert "display_name" in quarantined.reason and "bidirectional override" in quarantined.reason
    queued = {(e.entity, e.entity_uid) for e in store.outbox.queued(limit=1000)}
    assert ("person", plain) in queued and ("person", named) not in queued
