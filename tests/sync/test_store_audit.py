"""The audit trail's hash chain: appended with every change, and tamper-evident."""

from __future__ import annotations

import pytest

from sync.errors import SyncError
from sync.store import AccessEvent, Store
from sync.store.audit import GENESIS_HASH, entry_hash
from tests.sync.conftest import FakeClock, enrol


def fill_chain(store: Store, clock: FakeClock, events: int = 5) -> None:
    enrol(store, clock, "B-1", seed=1)
    for _ in range(events):
        clock.advance(seconds=30)
        store.access.record(AccessEvent(clock.now(), "gate", "kiosk-1", "not_matched", None, 0.2))


def tamper(store: Store, sql: str) -> None:
    """What someone holding the key could do: drop the guards and rewrite rows directly."""
    connection = store.database.connection
    connection.execute("DROP TRIGGER audit_log_no_update")
    connection.execute("DROP TRIGGER audit_log_no_delete")
    connection.execute(sql)


def rehash(store: Store) -> None:
    """What someone holding the key could do after removing or editing entries: compute
    every link again, so that the chain holds together on its own."""
    connection = store.database.connection
    rows = connection.execute(
        "SELECT sequence, at, actor, action, subject, details FROM audit_log ORDER BY sequence"
    ).fetchall()
    prev_hash = GENESIS_HASH
    for row in rows:
        digest = entry_hash((*row, prev_hash))
        connection.execute(
            "UPDATE audit_log SET prev_hash = ?, entry_hash = ? WHERE sequence = ?",
            (prev_hash, digest, row[0]),
        )
        prev_hash = digest


def test_an_untouched_chain_verifies(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    report = store.audit.verify()
    assert report.ok
    assert report.entries == 7  # created, enrolled, five decisions


def test_each_access_decision_is_appended_to_the_chain(store: Store, clock: FakeClock) -> None:
    event = AccessEvent(clock.now(), "gate", "kiosk-1", "spoof_detected", None, None, 0.03)
    store.access.record(event)
    last = store.audit.entries()[-1]
    assert (last.action, last.actor) == ("access.decision", "kiosk-1")
    assert event.event_uid in last.details_json
    assert last.prev_hash == store.audit.entries()[-2].entry_hash


def test_an_edited_entry_is_detected(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(
        store,
        "UPDATE audit_log SET details = replace(details, 'not_matched', 'verified')"
        " WHERE sequence = 4",
    )
    report = store.audit.verify()
    assert report.first_bad_sequence == 4
    assert "edited" in (report.problem or "")


def test_a_removed_entry_is_detected(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(store, "DELETE FROM audit_log WHERE sequence = 3")
    report = store.audit.verify()
    assert report.first_bad_sequence == 3
    assert "missing" in (report.problem or "")


def test_a_removed_and_renumbered_entry_is_detected(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(store, "DELETE FROM audit_log WHERE sequence = 3")
    store.database.connection.execute(
        "UPDATE audit_log SET sequence = sequence - 1 WHERE sequence > 3"
    )
    report = store.audit.verify()
    assert report.first_bad_sequence == 3
    assert not report.ok


def test_reordered_entries_are_detected(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(store, "UPDATE audit_log SET sequence = -1 WHERE sequence = 4")
    connection = store.database.connection
    connection.execute("UPDATE audit_log SET sequence = 4 WHERE sequence = 5")
    connection.execute("UPDATE audit_log SET sequence = 5 WHERE sequence = -1")
    report = store.audit.verify()
    assert report.first_bad_sequence == 4
    assert "removed or reordered" in (report.problem or "")


def test_sql_cannot_update_or_delete_audit_entries(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock, events=1)
    with pytest.raises(Exception, match="append-only") as raised:
        store.database.connection.execute("DELETE FROM audit_log")
    assert not isinstance(raised.value, SyncError)  # a raw SQL attempt, not our API
    with pytest.raises(Exception, match="append-only"):
        store.database.connection.execute("UPDATE audit_log SET actor = 'x'")
    assert store.audit.verify().ok


def test_sql_cannot_replace_an_audit_entry(store: Store, clock: FakeClock) -> None:
    """REPLACE deletes the old row without firing a delete trigger: it needs its own."""
    fill_chain(store, clock, events=1)
    first = store.database.connection.execute(
        "SELECT * FROM audit_log WHERE sequence = 1"
    ).fetchone()
    with pytest.raises(Exception, match="append-only"):
        store.database.connection.execute(
            "INSERT OR REPLACE INTO audit_log VALUES (?, ?, 'someone else', ?, ?, ?, ?, ?)",
            (first[0], first[1], *first[3:]),
        )
    assert store.audit.entries()[0].actor == first[2]


def test_the_integrity_report_includes_the_chain(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(store, "UPDATE audit_log SET actor = 'someone else' WHERE sequence = 2")
    report = store.integrity(quick=True)
    assert report.problems == (
        "audit chain: entry 2 was edited: its hash does not match its contents",
    )


def test_an_emptied_chain_is_detected(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock)
    tamper(store, "DELETE FROM audit_log")
    report = store.audit.verify()
    assert (report.ok, report.entries, report.first_bad_sequence) == (False, 0, 1)
    assert "empty" in (report.problem or "")


def test_a_chain_that_does_not_start_with_the_store_s_creation_is_detected(
    store: Store, clock: FakeClock
) -> None:
    """Removing the oldest entries and numbering and hashing the rest again leaves a chain
    that holds together, but one that no longer starts where every store's starts."""
    fill_chain(store, clock)
    assert store.audit.entries()[0].action == "store.created"
    tamper(store, "DELETE FROM audit_log WHERE sequence <= 2")
    store.database.connection.execute("UPDATE audit_log SET sequence = sequence - 2")
    rehash(store)
    report = store.audit.verify()
    assert report.first_bad_sequence == 1
    assert "store.created" in (report.problem or "")


def test_removed_newest_entries_are_detected_only_against_a_recorded_head(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)
    recorded = store.audit.head()
    assert recorded[0] == 7
    tamper(store, "DELETE FROM audit_log WHERE sequence >= 6")
    assert store.audit.verify_chain().ok  # what the chain alone cannot tell
    assert len(store.audit.verify().events) == 2  # but the decisions' events left behind can
    report = store.audit.verify(recorded)
    assert (report.ok, report.entries, report.first_bad_sequence) == (False, 5, 6)
    assert "recorded head" in (report.problem or "")


def test_a_rewritten_chain_is_detected_only_against_a_recorded_head(
    store: Store, clock: FakeClock
) -> None:
    fill_chain(store, clock)
    recorded = store.audit.head()
    tamper(
        store,
        "UPDATE audit_log SET details = replace(details, 'not_matched', 'verified')"
        " WHERE sequence = 4",
    )
    rehash(store)
    assert store.audit.verify_chain().ok  # what the chain alone cannot tell
    assert "decision 'not_matched' (entry 4: 'verified')" in store.audit.verify().events[0]
    report = store.audit.verify(recorded)
    assert report.first_bad_sequence == 7
    assert "recorded head" in (report.problem or "")


def test_a_recorded_head_stays_valid_as_the_chain_grows(store: Store, clock: FakeClock) -> None:
    fill_chain(store, clock, events=1)
    recorded = store.audit.head()
    store.audit.record(actor="op", action="store.backed_up", subject="b.db", details={})
    assert store.audit.verify(recorded).ok
    assert store.audit.verify(store.audit.head()).ok
