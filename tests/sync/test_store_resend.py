"""What a device queues again for a hub restored from a backup (``sync.store.resend``): what
it sent and still holds, under the same keys where the outbox kept them, dated when made;
every person of its site it holds, pulled ones too; nothing still waiting in its outbox."""

from __future__ import annotations

import uuid

from sync.store import AccessEvent, FishObservation, OutboxState, Photo, SpeciesScore, Store
from sync.store.clock import format_timestamp
from sync.store.resend import queue_again
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

    queued = store.outbox.queued(limit=1000)
    assert (requeued.people, requeued.templates, requeued.access_events) == (2, 1, 1)
    assert requeued.kept == 2 and requeued.total == len(queued) == 6
    assert [e.entity for e in queued] == [
        "person", "face_template", "person", "access_event", "photo", "fish_observation",
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
    assert format_timestamp(queued[3].created_at) == format_timestamp(decision.occurred_at)


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
    assert store.outbox.counts() == before
