"""Pushing the outbox: batches, verdicts, quarantine, lost answers, splitting, auth pauses,
and the cap on retryable rejections."""

from __future__ import annotations

import pytest

from sync.client import HubAuthError, HubRefusedError, HubUnavailableError
from sync.client.config import MAX_RETRYABLE_ATTEMPTS
from sync.client.push import ERASED_REASON
from sync.client.status import read_status
from sync.protocol import PushResult
from sync.store import OutboxState, Store
from tests.sync.client.fakehub import FakeHub, Fault
from tests.sync.client.units import client_of, observations, states
from tests.sync.conftest import FakeClock, enrol


def test_entries_go_in_sequence_order_in_batches_and_are_acknowledged(store: Store) -> None:
    uids = observations(store, 45)
    hub = FakeHub()
    report = client_of(store, hub).push()
    assert (report.batches, report.acknowledged, report.rejected) == (3, 45, 0)
    assert states(store) == {"acknowledged": 45}
    assert sorted(uid for _, uid in hub.stored) == sorted(uids)
    assert all(times == 1 for times in hub.stored.values())


def test_a_push_forgets_entries_an_older_release_kept_acknowledged(store: Store) -> None:
    enrol(store, FakeClock(), "B-1", seed=1)
    with store.database.write() as connection:  # acknowledged as releases before this one did
        connection.execute("UPDATE outbox SET state = 'acknowledged'")
    assert client_of(store, FakeHub()).push().batches == 0  # nothing queued: swept all the same
    assert store.outbox.entries() == []


def test_a_rejected_entry_is_quarantined_with_the_hubs_reason(store: Store) -> None:
    uids = observations(store, 5)
    hub = FakeHub()
    hub.reject[uids[2]] = "invalid fish_observation payload: count: too small"
    report = client_of(store, hub).push()
    assert (report.acknowledged, report.rejected) == (4, 1)
    quarantined = read_status(store, {}).quarantined
    assert [(q.entity_uid, q.reason) for q in quarantined] == [
        (uids[2], "invalid fish_observation payload: count: too small")
    ]
    assert client_of(store, hub).push().batches == 0  # never sent again


def test_a_lost_answer_is_retried_and_the_hub_stores_once(store: Store) -> None:
    observations(store, 10)
    hub = FakeHub()
    hub.faults.append(Fault("push", lose_answer=True))
    client = client_of(store, hub)
    with pytest.raises(HubUnavailableError):
        client.push()
    assert states(store) == {"queued": 10}  # back in the queue, same keys
    assert client.push().acknowledged == 10
    assert len(hub.ledger) == 10 and set(hub.stored.values()) == {1}
    assert [e.attempts for e in store.outbox.entries()] == [2] * 10


def test_entries_left_sent_by_a_dead_sync_are_recovered(store: Store) -> None:
    observations(store, 3)
    store.outbox.mark_sent([e.idempotency_key for e in store.outbox.queued()])
    report = client_of(store, FakeHub()).push()
    assert (report.recovered, report.acknowledged) == (3, 3)


def test_a_batch_refused_whole_is_split_until_the_bad_entry_is_found(store: Store) -> None:
    uids = observations(store, 16)
    hub = FakeHub()
    hub.refuse_whole.add(uids[11])
    report = client_of(store, hub).push()
    assert (report.acknowledged, report.rejected) == (15, 1)
    (bad,) = read_status(store, {}).quarantined
    assert bad.entity_uid == uids[11] and "scripted refusal" in bad.reason


def test_a_bare_400_from_a_proxy_fails_the_sync_and_quarantines_nothing(store: Store) -> None:
    observations(store, 8)
    hub = FakeHub()
    hub.faults.append(Fault("push", status=400, error="http_400"))
    with pytest.raises(HubRefusedError):
        client_of(store, hub).push()
    assert hub.requests == ["POST /api/v1/sites/north-gate/push"]  # not split, entry by entry
    assert states(store) == {"queued": 8}


def test_an_auth_failure_stops_at_once_and_keeps_the_queue(store: Store) -> None:
    observations(store, 45)
    hub = FakeHub()
    hub.faults.append(Fault("push", status=401, error="unknown_token"))
    with pytest.raises(HubAuthError) as raised:
        client_of(store, hub).push()
    assert raised.value.code == "unknown_token"
    assert hub.requests == ["POST /api/v1/sites/north-gate/push"]  # one try, no hammering
    assert states(store) == {"queued": 45}


def test_a_rejection_the_hub_marks_retryable_is_requeued_not_quarantined(store: Store) -> None:
    uids = observations(store, 2)
    hub = FakeHub()
    hub.reject[uids[0]] = "a record it needs was locked past the lock timeout"  # no "retry"
    hub.retryable.add(uids[0])
    report = client_of(store, hub).push()
    assert (report.acknowledged, report.rejected, report.requeued) == (1, 0, 1)
    assert read_status(store, {}).quarantined == ()
    del hub.reject[uids[0]]
    assert client_of(store, hub).push().acknowledged == 1
    assert states(store) == {"acknowledged": 2}


def test_the_flag_not_the_reasons_words_decides_a_retry(store: Store) -> None:
    uids = observations(store, 1)
    hub = FakeHub()
    hub.reject[uids[0]] = "conflicts with a record another device stored at the same moment; retry"
    report = client_of(store, hub).push()
    assert (report.rejected, report.requeued) == (1, 0)
    assert [q.entity_uid for q in read_status(store, {}).quarantined] == uids


def test_an_entry_erased_while_in_flight_is_quarantined_not_sent_blank(
    store: Store, clock: FakeClock
) -> None:
    person = enrol(store, clock, "B-1", seed=1)
    keys = [e.idempotency_key for e in store.outbox.queued()]
    store.outbox.mark_sent(keys)  # a push was in flight when the person was erased
    store.people.erase(person, operator="officer-7", reason="request")
    hub = FakeHub()
    report = client_of(store, hub).push()
    assert report.rejected == 2 and report.acknowledged == 1  # the tombstone travels
    assert {q.reason for q in read_status(store, {}).quarantined} == {ERASED_REASON}
    assert list(hub.stored) == [("person", person)]
    assert store.outbox.counts()[OutboxState.QUEUED] == 0


NOT_YET = "unknown person: push the person first"


def test_a_retryable_rejection_is_quarantined_once_the_cap_is_reached(store: Store) -> None:
    uids = observations(store, 2)
    hub = FakeHub()
    hub.reject[uids[0]] = NOT_YET
    hub.retryable.add(uids[0])
    client = client_of(store, hub)
    for _ in range(MAX_RETRYABLE_ATTEMPTS - 1):
        client.push()
    refused = store.outbox.get(store.outbox.queued()[0].idempotency_key)
    assert (refused.entity_uid, refused.refusals) == (uids[0], MAX_RETRYABLE_ATTEMPTS - 1)
    assert states(store) == {"acknowledged": 1, "queued": 1}  # N-1 refusals: still queued
    report = client.push()
    assert (report.rejected, report.requeued) == (1, 0)
    assert [(q.entity_uid, q.reason) for q in read_status(store, {}).quarantined] == [
        (uids[0], f"still refused after {MAX_RETRYABLE_ATTEMPTS} attempts: {NOT_YET}")
    ]
    assert client.push().batches == 0  # no longer resent every sync


def test_a_lost_or_left_out_answer_is_never_capped(store: Store) -> None:
    uids = observations(store, 1)
    hub = FakeHub()
    client = client_of(store, hub)
    silence = PushResult(acknowledged=[], rejected=[]).model_dump_json().encode()
    for attempt in range(MAX_RETRYABLE_ATTEMPTS + 2):
        if attempt % 2:
            hub.faults.append(Fault("push", body=silence))  # answered, without this entry
            client.push()
        else:
            hub.faults.append(Fault("push", lose_answer=True))
            with pytest.raises(HubUnavailableError):
                client.push()
    (entry,) = store.outbox.queued()
    assert (entry.entity_uid, entry.attempts, entry.refusals) == (
        uids[0],
        MAX_RETRYABLE_ATTEMPTS + 2,
        0,
    )
    assert client.push().acknowledged == 1
    assert states(store) == {"acknowledged": 1} and hub.stored == {("fish_observation", uids[0]): 1}


def test_a_backlog_sent_while_offline_is_not_quarantined_on_its_first_refusal(
    store: Store,
) -> None:
    (uid,) = observations(store, 1)
    hub = FakeHub()
    client = client_of(store, hub)
    for _ in range(MAX_RETRYABLE_ATTEMPTS + 2):  # days offline: sends the hub never saw
        hub.faults.append(Fault("push", drop=True))
        with pytest.raises(HubUnavailableError):
            client.push()
    (entry,) = store.outbox.queued()
    assert (entry.attempts, entry.refusals) == (MAX_RETRYABLE_ATTEMPTS + 2, 0)
    hub.reject[uid] = NOT_YET
    hub.retryable.add(uid)
    report = client.push()  # back online: a passing refusal is the first of the cap
    assert (report.rejected, report.requeued) == (0, 1)
    assert store.outbox.queued()[0].refusals == 1
    del hub.reject[uid]
    assert client.push().acknowledged == 1
    assert hub.stored == {("fish_observation", uid): 1}
