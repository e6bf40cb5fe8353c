"""The outbox's quarantine: the entries the hub rejected, listed with their reasons, and moved
back to the queue by an operator, each move audited in the chain."""

from __future__ import annotations

import json

import pytest
import sqlcipher3

from sync.errors import RecordNotFoundError
from sync.protocol import MAX_PAYLOAD_BYTES
from sync.store import OutboxState, Store, Verdict, outbox_quarantine
from tests.sync.conftest import FakeClock
from tests.sync.test_store_outbox import entry_in, fail_writes


def test_quarantined_lists_the_rejected_entries_with_their_reasons(
    store: Store, clock: FakeClock
) -> None:
    first = entry_in(store, clock, "sent", "rejected")
    entry_in(store, clock, "sent", "acknowledged")
    second = entry_in(store, clock, "sent", "rejected")
    listed = store.outbox.quarantined()
    assert [(q.idempotency_key, q.reason) for q in listed] == [
        (first, "refused: rejected"),
        (second, "refused: rejected"),
    ]
    assert [q.sequence for q in listed] == [store.outbox.get(k).sequence for k in (first, second)]
    assert store.outbox.quarantined(limit=1) == listed[:1]


def test_requeue_moves_a_quarantined_entry_back_clearing_reason_and_refusals(
    store: Store, clock: FakeClock
) -> None:
    key = entry_in(store, clock, "sent")
    store.outbox.settle(Verdict(refused=(key,)))
    entry_in(store, clock, "sent", "rejected")  # stays quarantined
    store.outbox.mark_sent([key])
    store.outbox.mark_rejected(key, "still refused after 2 attempts")
    clock.advance(minutes=1)
    sequence = store.outbox.get(key).sequence
    assert store.outbox.requeue_quarantined([sequence], operator="cli:officer-7") == 1
    entry = store.outbox.get(key)
    assert (entry.state, entry.reject_reason, entry.refusals) == (OutboxState.QUEUED, None, 0)
    assert (entry.attempts, entry.state_changed_at) == (2, clock.now())
    assert store.outbox.counts()[OutboxState.REJECTED] == 1


def test_a_requeue_is_audited_in_the_chain(store: Store, clock: FakeClock) -> None:
    keys = [entry_in(store, clock, "sent", "rejected") for _ in range(2)]
    sequences = [store.outbox.get(key).sequence for key in keys]
    assert store.outbox.requeue_quarantined(None, operator="cli:officer-7") == 2
    audited = store.audit.entries()[-1]
    assert (audited.actor, audited.action, audited.subject) == (
        "cli:officer-7",
        "outbox.requeued",
        "outbox",
    )
    assert json.loads(audited.details_json) == {"entries": 2, "sequences": sequences}
    assert store.audit.verify().ok


def test_a_large_requeue_is_audited_in_parts_each_small_enough_to_send(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``requeue --all`` over a large quarantine wrote one entry listing every sequence: past
    what an audit entry may carry to the hub, and the chain was anchored no further."""
    monkeypatch.setattr(outbox_quarantine, "REQUEUED_PER_AUDIT_ENTRY", 2)
    keys = [entry_in(store, clock, "sent", "rejected") for _ in range(5)]
    sequences = [store.outbox.get(key).sequence for key in keys]
    assert store.outbox.requeue_quarantined(None, operator="cli:officer-7") == 5
    parts = [json.loads(e.details_json) for e in store.audit.entries()[-3:]]
    assert [part["sequences"] for part in parts] == [sequences[:2], sequences[2:4], sequences[4:]]
    assert {(part["entries"], part["parts"]) for part in parts} == {(5, 3)}
    assert [part["part"] for part in parts] == [1, 2, 3]
    assert store.audit.verify().ok


def test_the_largest_requeue_part_fits_what_an_audit_entry_may_carry() -> None:
    biggest = {
        "entries": 10**12,
        "part": 10**9,
        "parts": 10**9,
        "sequences": [10**12 - 1] * outbox_quarantine.REQUEUED_PER_AUDIT_ENTRY,
        "new_keys": [10**12 - 1] * outbox_quarantine.REQUEUED_PER_AUDIT_ENTRY,
    }
    assert len(json.dumps(biggest).encode()) < MAX_PAYLOAD_BYTES // 2


def test_a_requeue_whose_audit_entry_fails_moves_nothing(store: Store, clock: FakeClock) -> None:
    key = entry_in(store, clock, "sent", "rejected")
    fail_writes(store, "BEFORE INSERT ON audit_log")
    with pytest.raises(sqlcipher3.IntegrityError, match="injected failure"):
        store.outbox.requeue_quarantined(None, operator="cli:officer-7")
    assert store.outbox.get(key).state == OutboxState.REJECTED


def test_a_requeue_naming_an_entry_not_quarantined_moves_nothing(
    store: Store, clock: FakeClock
) -> None:
    rejected = store.outbox.get(entry_in(store, clock, "sent", "rejected")).sequence
    queued = store.outbox.get(entry_in(store, clock)).sequence
    with pytest.raises(RecordNotFoundError, match=f"#{queued}, #999"):
        store.outbox.requeue_quarantined([rejected, queued, 999], operator="cli:officer-7")
    assert store.outbox.counts()[OutboxState.REJECTED] == 1
    assert store.audit.entries()[-1].action != "outbox.requeued"
