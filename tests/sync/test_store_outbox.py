"""The outbox: written in the change's transaction, ordered, idempotent, with a state machine."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlcipher3

from sync.errors import RecordNotFoundError, RecordTooLargeError
from sync.protocol import MAX_PHOTO_BYTES
from sync.store import (
    AccessEvent,
    FishObservation,
    OutboxState,
    Passphrase,
    Photo,
    SpeciesScore,
    Store,
    StoreConfig,
    Verdict,
    outbox_forget,
)
from sync.store.photos import load_photo
from sync.store.retention import REASON_NOT_KEPT
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


def test_the_store_keeps_every_photo_the_hub_accepts(store: Store, clock: FakeClock) -> None:
    """A full-resolution phone photo may be over 16 MiB (the store's old limit, which
    refused it though the protocol and the hub carry up to 32 MiB)."""
    photo = Photo(b"x" * MAX_PHOTO_BYTES, "image/jpeg", clock.now())
    store.observations.add(catch(clock), photo)
    assert load_photo(store.database, photo.photo_uid).data == photo.data
    over = Photo(photo.data + b"x", "image/jpeg", clock.now())
    with pytest.raises(RecordTooLargeError, match=f"at most {MAX_PHOTO_BYTES}$"):
        store.observations.add(catch(clock), over)


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


def entry_in(store: Store, clock: FakeClock, *path: str) -> str:
    """Queue an entry and walk it along ``path`` ("sent", "acknowledged", "rejected")."""
    store.observations.add(catch(clock))
    key = store.outbox.entries()[-1].idempotency_key
    for step in path:
        if step == "sent":
            store.outbox.mark_sent([key])
        elif step == "acknowledged":
            store.outbox.mark_acknowledged([key])
        else:
            store.outbox.mark_rejected(key, f"refused: {step}")
    return key


def fail_writes(store: Store, when: str) -> None:
    """Make the writes ``when`` names fail mid-transaction (a temporary trigger: this test only)."""
    store.database.connection.execute(
        f"CREATE TEMP TRIGGER injected {when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )


def test_recovery_requeues_only_the_sent_entries_and_stamps_them(
    store: Store, clock: FakeClock
) -> None:
    waiting = entry_in(store, clock)
    in_flight = [entry_in(store, clock, "sent"), entry_in(store, clock, "sent")]
    done = entry_in(store, clock, "sent", "acknowledged")
    clock.advance(minutes=5)
    assert store.outbox.recover_interrupted() == 2
    for key in in_flight:
        entry = store.outbox.get(key)
        assert (entry.state, entry.state_changed_at) == (OutboxState.QUEUED, clock.now())
        assert (entry.attempts, entry.refusals) == (1, 0)  # a lost answer counts nothing
    assert store.outbox.get(waiting).state_changed_at < clock.now()
    assert store.outbox.get(done).state == OutboxState.ACKNOWLEDGED
    assert store.outbox.recover_interrupted() == 0


def test_settle_writes_each_part_of_a_verdict(store: Store, clock: FakeClock) -> None:
    acknowledged, rejected, requeued, refused = (entry_in(store, clock, "sent") for _ in range(4))
    clock.advance(minutes=1)
    store.outbox.settle(
        Verdict(
            acknowledged=(acknowledged,),
            rejected=((rejected, "unknown vessel V-9"),),
            requeued=(requeued,),
            refused=(refused,),
        )
    )
    moved = {key: store.outbox.get(key) for key in (acknowledged, rejected, requeued, refused)}
    assert {e.state_changed_at for e in moved.values()} == {clock.now()}
    assert [(e.state, e.reject_reason, e.refusals) for e in moved.values()] == [
        (OutboxState.ACKNOWLEDGED, None, 0),
        (OutboxState.REJECTED, "unknown vessel V-9", 0),
        (OutboxState.QUEUED, None, 0),
        (OutboxState.QUEUED, None, 1),  # the hub's retryable refusal is counted
    ]


def test_settle_leaves_an_entry_that_is_no_longer_sent_alone(
    store: Store, clock: FakeClock
) -> None:
    queued = entry_in(store, clock)
    acknowledged = entry_in(store, clock, "sent", "acknowledged")
    rejected = entry_in(store, clock, "sent", "rejected")
    before = {key: store.outbox.get(key) for key in (queued, acknowledged, rejected)}
    clock.advance(minutes=1)
    store.outbox.settle(
        Verdict(
            acknowledged=(queued, rejected),
            rejected=((acknowledged, "late refusal"),),
            refused=(rejected, acknowledged),
        )
    )
    assert {key: store.outbox.get(key) for key in before} == before


def test_settle_writes_all_of_a_verdict_or_none_of_it(store: Store, clock: FakeClock) -> None:
    acknowledged, rejected = entry_in(store, clock, "sent"), entry_in(store, clock, "sent")
    fail_writes(store, "BEFORE UPDATE OF state ON outbox WHEN NEW.state = 'rejected'")
    with pytest.raises(sqlcipher3.IntegrityError, match="injected failure"):
        store.outbox.settle(Verdict(acknowledged=(acknowledged,), rejected=((rejected, "no"),)))
    assert store.outbox.counts()[OutboxState.SENT] == 2


def test_a_verdict_refuses_a_rejection_without_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Verdict(rejected=(("some-key", "  "),))


def decision(store: Store, clock: FakeClock, person_uid: str | None = None) -> None:
    event = AccessEvent(clock.now(), "north-gate", "kiosk-1", "verified", person_uid, 0.8, 0.97)
    store.access.record(event)


def acknowledge_all(store: Store) -> None:
    keys = [entry.idempotency_key for entry in store.outbox.queued()]
    store.outbox.mark_sent(keys)
    store.outbox.settle(Verdict(acknowledged=tuple(keys)))


def test_an_acknowledged_decision_or_enrolment_is_forgotten_but_not_what_is_read_after(
    store: Store, clock: FakeClock
) -> None:
    """A kiosk's decisions must not fill its disk once the hub has them; an erasure's
    tombstone (``sync.client.apply``; its reason typed given way to ``REASON_NOT_KEPT``), a
    catch's first box (``sync.store.corrections``) and a photo's
    entry (its upload) are read after, so those stay. The records themselves stay too."""
    person_uid = enrol(store, clock, "B-1", seed=1)
    decision(store, clock, person_uid)
    store.observations.add(catch(clock), Photo(b"jpeg", "image/jpeg", clock.now()))
    acknowledge_all(store)
    store.people.erase(person_uid, operator="dpo", reason="left the company")
    acknowledge_all(store)
    decision(store, clock)  # still queued: sent as it was written
    after = store.outbox.entries()
    assert [(e.entity, e.operation, e.state.value) for e in after] == [
        ("photo", "upsert", "acknowledged"),
        ("fish_observation", "upsert", "acknowledged"),
        ("person", "tombstone", "acknowledged"),
        ("access_event", "upsert", "queued"),
    ]
    assert after[1].payload()["crop"] is None and after[0].payload()["media_type"] == "image/jpeg"
    assert after[2].payload()["reason"] == REASON_NOT_KEPT
    assert store.access.count() == 2 and store.audit.verify().ok


def test_entries_an_older_release_kept_are_forgotten_a_bounded_batch_at_a_time(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        decision(store, clock)
    store.observations.add(catch(clock))
    with store.database.write() as connection:  # acknowledged as releases before this one did
        connection.execute("UPDATE outbox SET state = 'acknowledged'")
    decision(store, clock)  # not acknowledged yet
    monkeypatch.setattr(outbox_forget, "SWEEP_BATCH", 2)

    def left() -> list[str]:
        return [e.entity for e in store.outbox.entries()]

    assert store.outbox.forget_acknowledged() == 2
    assert left() == ["access_event"] * 3 + ["fish_observation", "access_event"]
    assert store.outbox.forget_acknowledged() == 2
    assert store.outbox.forget_acknowledged() == 1  # the catch stays
    assert store.outbox.forget_acknowledged() == 0
    assert left() == ["fish_observation", "access_event"]
    acknowledge_all(store)
    assert left() == ["fish_observation"]


def test_an_acknowledged_entry_carried_for_a_held_record_is_held_too(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    """A move holds the acknowledged entries the store keeps for the hub left, so that later
    entries about their records are held for it too; an acknowledged entry carried over a
    restore lost that hold, and a renewal of the new hub would have sent it there."""
    enrol(store, clock, "B-1", seed=1)
    entry = store.outbox.entries()[0]
    store.outbox.mark_sent([entry.idempotency_key])
    store.outbox.mark_acknowledged([entry.idempotency_key])
    acknowledged = store.outbox.entries()[0]
    with Store.create(tmp_path / "other.db", Passphrase("p" * 12), config=FAST) as other:
        with other.database.write() as connection:
            assert other.outbox.carry(connection, acknowledged, held_for="https://old-hub")
        rows = other.database.query("SELECT state, for_hub FROM outbox")
    assert rows == [("acknowledged", "https://old-hub")]
