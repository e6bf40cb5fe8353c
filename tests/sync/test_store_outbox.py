"""The outbox: written in the change's transaction, ordered, idempotent, with a state machine."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sync.errors import RecordNotFoundError, RecordTooLargeError
from sync.store import (
    FishObservation,
    OutboxState,
    Passphrase,
    Photo,
    SpeciesScore,
    Store,
    StoreConfig,
)
from tests.sync.conftest import FAST, FakeClock, enrol


def catch(clock: FakeClock, notes: str = "") -> FishObservation:
    return FishObservation(clock.now(), (SpeciesScore("cod", 0.9),), False, "officer", notes=notes)


def test_enrolment_queues_the_person_and_each_template(store: Store, clock: FakeClock) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    entries = store.outbox.entries()
    assert [(e.entity, e.operation) for e in entries] == [
        ("person", "upsert"),
        ("face_template", "upsert"),
    ]
    assert entries[0].entity_uid == person_uid
    assert entries[1].payload()["person_uid"] == person_uid


def test_sequences_increase_and_keys_are_uuid4(store: Store, clock: FakeClock) -> None:
    for number in range(5):
        store.observations.add(catch(clock, str(number)))
    entries = store.outbox.entries()
    sequences = [e.sequence for e in entries]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5
    assert all(uuid.UUID(e.idempotency_key).version == 4 for e in entries)
    assert len({e.idempotency_key for e in entries}) == 5


def test_a_sequence_is_never_reused_after_entries_are_dropped(
    store: Store, clock: FakeClock
) -> None:
    person_uid = enrol(store, clock, "B-1", seed=1)
    highest = store.outbox.entries()[-1].sequence
    store.people.erase(person_uid, operator="dpo", reason="request")  # drops the queued ones
    assert store.outbox.entries()[-1].sequence > highest


def test_a_failed_change_leaves_no_outbox_entry(
    tmp_path: Path, passphrase: Passphrase, clock: FakeClock
) -> None:
    small = StoreConfig(max_blob_bytes=1000, scrypt_n=FAST.scrypt_n)
    with Store.create(tmp_path / "small.db", passphrase, clock=clock, config=small) as store:
        big_photo = Photo(b"x" * 1001, "image/jpeg", clock.now())
        with pytest.raises(RecordTooLargeError, match="at most 1000"):
            store.observations.add(catch(clock), big_photo)
        assert store.outbox.entries() == []
        assert store.observations.count() == 0


def test_the_state_machine_queued_sent_acknowledged(store: Store, clock: FakeClock) -> None:
    store.observations.add(catch(clock))
    key = store.outbox.queued()[0].idempotency_key
    store.outbox.mark_sent([key])
    assert store.outbox.get(key).state == OutboxState.SENT
    assert store.outbox.get(key).attempts == 1
    assert store.outbox.queued() == []
    store.outbox.mark_acknowledged([key])
    store.outbox.mark_acknowledged([key])  # a repeated acknowledgement is harmless
    assert store.outbox.get(key).state == OutboxState.ACKNOWLEDGED


def test_a_rejection_keeps_its_reason(store: Store, clock: FakeClock) -> None:
    store.observations.add(catch(clock))
    key = store.outbox.queued()[0].idempotency_key
    store.outbox.mark_sent([key])
    store.outbox.mark_rejected(key, "unknown vessel V-9")
    entry = store.outbox.get(key)
    assert (entry.state, entry.reject_reason) == (OutboxState.REJECTED, "unknown vessel V-9")
    assert store.outbox.counts()[OutboxState.REJECTED] == 1


def test_a_retry_goes_back_to_queued_with_the_same_key(store: Store, clock: FakeClock) -> None:
    store.observations.add(catch(clock))
    key = store.outbox.queued()[0].idempotency_key
    store.outbox.mark_sent([key])
    store.outbox.mark_requeued([key])
    assert store.outbox.queued()[0].idempotency_key == key


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], OutboxState.ACKNOWLEDGED),  # acknowledged before it was sent
        (["sent", "acknowledged"], OutboxState.REJECTED),
        (["sent", "rejected"], OutboxState.SENT),
    ],
)
def test_illegal_transitions_are_refused(
    store: Store, clock: FakeClock, path: list[str], target: OutboxState
) -> None:
    store.observations.add(catch(clock))
    key = store.outbox.queued()[0].idempotency_key
    moves = {
        "sent": lambda: store.outbox.mark_sent([key]),
        "acknowledged": lambda: store.outbox.mark_acknowledged([key]),
        "rejected": lambda: store.outbox.mark_rejected(key, "no"),
    }
    for step in path:
        moves[step]()
    with pytest.raises(ValueError, match="cannot go from"):
        moves[target.value]()


def test_an_unknown_key_is_a_clear_error(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        store.outbox.mark_sent(["not-a-key"])
